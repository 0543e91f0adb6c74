//! The plan codecs shared by the scheduler and the executors.
//!
//! Both sides must build their codecs here so that what the scheduler encodes the
//! executors can decode. Today every node Quarry ships is a DataFusion or Ballista node
//! (file scans are `DataSourceExec`, shuffles are Ballista's), so these are Ballista's
//! codecs; Quarry's own scan nodes join here, tried before Ballista's.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;

/// The logical-plan codec.
pub fn logical_codec() -> Arc<dyn LogicalExtensionCodec> {
    Arc::new(BallistaLogicalExtensionCodec::default())
}

/// The physical-plan codec used for every task sent to an executor.
pub fn physical_codec() -> Arc<dyn PhysicalExtensionCodec> {
    Arc::new(BallistaPhysicalExtensionCodec::default())
}
