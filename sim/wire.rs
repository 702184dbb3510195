//! Postcard encoding into a reusable buffer.
//!
//! `postcard::to_extend` pushes through `Extend` one slice at a time;
//! appending to a `Vec` we keep is cheaper and allocates only when the
//! buffer grows.

use postcard::ser_flavors::Flavor;
use serde::Serialize;

struct Append<'a>(&'a mut Vec<u8>);

impl Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Appends the postcard encoding of `value` to `out`. On error, `out` may
/// hold a partial encoding past its old length; callers truncate.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> postcard::Result<()> {
    postcard::serialize_with_flavor(value, Append(out))
}
