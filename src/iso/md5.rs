//! isomd5sum implant/check (placeholder; the real module is written by another helper and replaces this file at merge).
