//! The stack's RDS database as the engine reads it. Today it is read for the parameter checks
//! (the node's database URL against the instance's endpoint, `rds.force_ssl` against its
//! `sslmode`, the connection limit CL-DB-011 compares the nodes' pools with); the model, the
//! checks and the planner of its alarm remediations are `domain::database`.

pub(crate) mod observe;
