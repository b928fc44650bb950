//! The Partner Center simulator (owned by the simulator work item).
