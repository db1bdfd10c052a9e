//! What the two benchmark binaries share: request signing (`sign`), the keep-alive HTTP/1.1
//! client (`http`), closed-loop load with every reply checked (`load`), and the requests they
//! send (`workloads`). `scale` (src/main.rs) grows one account to a million key pairs;
//! `keypaird-load` (src/bin/keypaird-load/) measures one workload against one server.

pub mod http;
pub mod load;
pub mod sign;
pub mod workloads;
