//! The caller's properties among entries: one iterator type for every event
//! check (track, `beforeSend`'s change, shared properties, stored events),
//! so the check is compiled once.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::core::entries::{self, Entries, Entry};
use crate::core::error::Error;
use crate::core::event::{self, RawValue, ValidateOptions};

/// Yields the properties (`Entry::Prop`) of entries, keeping the first
/// malformed entry. With a context ([`Props::spliced`]), the empty-named
/// marker of a stored event is replaced by the context's properties (see
/// [`crate::core::store`]).
pub(crate) struct Props<'a> {
    it: Entries<'a>,
    /// The context to put in at the marker, while splicing.
    ctx: Option<Entries<'a>>,
    /// Reading the context now.
    in_ctx: bool,
    /// The first problem found in the entries.
    pub(crate) err: Option<Error>,
}

impl<'a> Props<'a> {
    /// The properties of `encoded`.
    pub(crate) fn new(encoded: &'a str) -> Self {
        Props {
            it: entries::parse(encoded),
            ctx: None,
            in_ctx: false,
            err: None,
        }
    }

    /// The properties of a stored event, its marker replaced by those of
    /// `ctx`. A marker inside the context is an error.
    pub(crate) fn spliced(encoded: &'a str, ctx: &'a str) -> Self {
        Props {
            ctx: Some(entries::parse(ctx)),
            ..Props::new(encoded)
        }
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
        let r = event::validate_with_defaults(out, event_name, &mut self, defaults, opts);
        match self.err {
            Some(e) => Err(e),
            None => r,
        }
    }
}

impl<'a> Iterator for Props<'a> {
    type Item = (&'a str, RawValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let e = match (self.in_ctx, self.ctx.as_mut()) {
                (true, Some(ctx)) => match ctx.next() {
                    Some(e) => e,
                    None => {
                        self.in_ctx = false;
                        continue;
                    }
                },
                _ => self.it.next()?,
            };
            match e {
                Ok(Entry::Prop("", _)) if self.ctx.is_some() => {
                    if self.in_ctx {
                        self.err
                            .get_or_insert(crate::core::store::problem("nested shared properties"));
                    }
                    self.in_ctx = true;
                }
                Ok(Entry::Prop(k, v)) => return Some((k, v)),
                Ok(Entry::Default(..)) => {}
                Err(e) => {
                    self.err.get_or_insert(e);
                }
            }
        }
    }
}
