//! Typed Partner Center resource models (owned by the models work item).
