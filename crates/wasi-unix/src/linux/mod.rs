//! What only Linux has. A port of this crate to another system replaces
//! this module (see "Porting" in the crate's README); the rest of the crate
//! makes portable POSIX calls through `rustix`, but for the few listed
//! there.

pub mod features;
pub(crate) mod openat2;
pub(crate) mod pseudo;
pub(crate) mod tcp;
pub(crate) mod uring;
