//! cairn placeholder
