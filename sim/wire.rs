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
        // Most pieces are varints of a few bytes: a byte loop beats a call
        // to `memcpy` for each of them.
        if data.len() <= 16 {
            self.0.reserve(data.len());
            for &b in data {
                self.0.push(b);
            }
        } else {
            self.0.extend_from_slice(data);
        }
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
