//! The caller's properties among entries: one iterator type for every event
//! check (track, `beforeSend`'s change, shared properties, stored events),
//! so the check is compiled once.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::entries::{self, Entries, Entry};
use crate::core::error::Error;
use crate::core::event::{self, RawValue, ValidateOptions};

/// Yields the properties (`Entry::Prop`) of entries, up to the first
/// malformed one, which it keeps.
pub(crate) struct Props<'a> {
    it: Entries<'a>,
    /// The first problem found in the entries.
    pub(crate) err: Option<Error>,
}

impl<'a> Props<'a> {
    /// The properties of `encoded`.
    pub(crate) fn new(encoded: &'a str) -> Self {
        Props {
            it: entries::parse(encoded),
            err: None,
        }
    }

    /// What is left to read.
    pub(crate) fn remainder(&self) -> &'a str {
        self.it.remainder()
    }

    /// Validates the event these properties make (see
    /// [`event::validate_with_defaults`]): the first malformed entry is the
    /// error, else validation's.
    pub(crate) fn validate(
        mut self,
        out: &mut String,
        event_name: Option<RawValue<'_>>,
        defaults: &[(&str, RawValue<'_>)],
        opts: &ValidateOptions,
    ) -> Result<(Option<i64>, u64), Error> {
        let start = out.len();
        let r = event::validate_with_defaults(out, event_name, &mut self, defaults, opts);
        match self.err {
            // The properties before a malformed entry may have made a valid
            // event: nothing of it stays appended (as on validation's errors).
            Some(e) => {
                debug_assert!(start <= out.len() && out.is_char_boundary(start));
                // SAFETY: `start` was the length before validation, which
                // only appends: at most the length now, and a char boundary.
                unsafe { out.as_mut_vec().set_len(start) };
                Err(e)
            }
            None => r,
        }
    }
}

impl<'a> Iterator for Props<'a> {
    type Item = (&'a str, RawValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.it.next()? {
                Ok(Entry::Prop(k, v)) => return Some((k, v)),
                Ok(Entry::Default(..)) => {}
                // An error ends the entries (see `Entries::next`): it is
                // the only one.
                Err(e) => {
                    self.err = Some(e);
                    return None;
                }
            }
        }
    }
}
