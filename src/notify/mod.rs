//! Notifications: deciding who hears about a transition ([`router`]), what
//! they are told ([`message`]), and getting it there from the SQLite outbox
//! with retries ([`dispatch`]) through one module per channel ([`channels`]).

pub mod ack_link;
pub mod acknowledged;
pub mod channels;
pub mod dispatch;
pub mod explain;
pub mod inhibit;
pub mod message;
pub mod pipeline;
pub mod render;
pub mod repeat;
pub mod resume;
pub mod route_table;
pub mod router;
pub mod silence;
pub mod testsend;
pub mod verify;

pub use dispatch::Dispatcher;
pub use message::{AlertMessage, MessageKind};
pub use pipeline::Pipeline;
pub use router::{Router, RouterShared};
pub use testsend::{TargetTester, TestOutcome};
