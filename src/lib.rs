//! permtrail: classify cloud audit-trail records into ECS IAM actions and explain denials.

pub mod catalog;
