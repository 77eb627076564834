//! The pure core of the first responder run by `cairn watch`: what to do when a consumer
//! group's incident opens or closes, per (cluster, group), with time as an argument.
//!
//! A stateless group is relaunched once when its incident opens; if it is still stuck after
//! `verify_within`, or stuck again within `suppress_for` of that relaunch, or the relaunch
//! itself failed, nothing is run again: the incident is escalated to a person. A stateful
//! group is never relaunched; its incident is a notice. `docs/respond.md` explains the policy.
//!
//! Layout:
//! - [`policy`]: the per-group state machine ([`Responder`]) and its stored state.
//! - [`record`]: the audit record of each action (`schemas/action.schema.json`).
//! - [`template`]: an HTTP action's body template and a command's environment.

pub mod policy;
pub mod record;
pub mod template;

pub use policy::{Decision, GroupPolicy, IncidentRef, Reason, Responder, StateError};
pub use record::{ActionKind, ActionRecord, Outcome, Via};

#[cfg(test)]
mod tests;
