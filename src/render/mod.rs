//! Renderers of an answer: the bytes a client gets for what [`crate::service`]
//! found. Rendering decides nothing: the lookup, its warnings and its status
//! are settled before a renderer is called.

pub mod json;
