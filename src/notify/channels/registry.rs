//! The channel table's machinery: what a channel module registers (a
//! [`ChannelType`] per target type) and the `channels!` macro that turns the
//! table in `channels/mod.rs` into the channel modules, `TargetKind` (one
//! variant per target type, holding its typed settings), `TYPES` (each type's
//! name, aliases and keys, for config loading) and the dispatch from a type
//! to its channel's check and set-up.

use super::notifier::{ChannelError, Notifier};
use crate::config::target_keys::{Key, TargetCheck};
use crate::config::{Config, TargetConfig};
use crate::notify::render::Renderer;
use crate::yaml::SourceError;

/// One target type, as its channel module registers it; `C` is its typed
/// settings (a variant of `TargetKind`).
pub struct ChannelType<C> {
    /// The `type:` of its targets.
    pub name: &'static str,
    /// Other spellings of `type:` that mean this type.
    pub aliases: &'static [&'static str],
    /// Its keys besides the common ones, in the order errors list them.
    pub keys: &'static [Key],
    /// Checks a target's keys and builds its typed settings; every problem
    /// goes to the errors, at its position.
    pub check: fn(&TargetCheck, &mut Vec<SourceError>) -> Option<C>,
    /// Sets up the channel of a checked target.
    pub build: Build<C>,
}

/// How a [`ChannelType`] sets up its channel: from the target, its typed
/// settings, the renderer of its wording and the whole config.
pub type Build<C> =
    fn(&TargetConfig, &C, Renderer, &Config) -> Result<Box<dyn Notifier>, ChannelError>;

/// A target type as config loading sees it.
#[derive(Debug)]
pub struct TypeInfo {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub keys: &'static [Key],
}

/// The channel table: `mod <folder> { <Variant>(<Settings>) = <CHANNEL_TYPE> }`
/// per channel folder (several types may share a folder). Declares the
/// modules, `TargetKind`, `TYPES` and `check_kind`, and
/// `TargetKind::{type_name, build}`, all in table order.
macro_rules! channels {
    ($( mod $m:ident { $( $variant:ident($cfg:ident) = $ty:ident ),+ $(,)? } )*) => {
        $( pub mod $m; )*

        /// A checked target's typed settings: one variant per target type.
        #[derive(Debug, Clone)]
        pub enum TargetKind {
            $($( $variant($m::$cfg), )+)*
        }

        impl TargetKind {
            /// The `type:` of the target.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $($( TargetKind::$variant(_) => $m::$ty.name, )+)*
                }
            }

            /// Sets up the target's channel.
            pub(crate) fn build(
                &self,
                cfg: &$crate::config::TargetConfig,
                renderer: $crate::notify::render::Renderer,
                config: &$crate::config::Config,
            ) -> Result<Box<dyn Notifier>, ChannelError> {
                match self {
                    $($( TargetKind::$variant(c) => ($m::$ty.build)(cfg, c, renderer, config), )+)*
                }
            }
        }

        /// Every target type, in table order.
        pub const TYPES: &[$crate::notify::channels::registry::TypeInfo] = &[
            $($( $crate::notify::channels::registry::TypeInfo {
                name: $m::$ty.name,
                aliases: $m::$ty.aliases,
                keys: $m::$ty.keys,
            }, )+)*
        ];

        /// The typed settings of a target of `type_name` (a name of
        /// [`TYPES`]), checked by its channel.
        pub(crate) fn check_kind(
            type_name: &str,
            check: &$crate::config::target_keys::TargetCheck,
            errors: &mut Vec<$crate::yaml::SourceError>,
        ) -> Option<TargetKind> {
            $($(
                if type_name == $m::$ty.name {
                    return ($m::$ty.check)(check, errors).map(TargetKind::$variant);
                }
            )+)*
            None
        }
    };
}

pub(crate) use channels;
