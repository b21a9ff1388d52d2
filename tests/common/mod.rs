pub mod direct_boot;
