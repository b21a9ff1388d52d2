//! Driver update disks (DDv3) and kmod RPMs.
pub mod ddv3;
pub mod rpm;
pub mod rpmvercmp;
