//! The plan codecs shared by the scheduler and the executors.
//!
//! Both sides must build their codecs here so that what the scheduler encodes the
//! executors can decode. Most nodes Quarry ships are DataFusion's or Ballista's (file
//! scans are `DataSourceExec`, shuffles are Ballista's); Quarry's own nodes (the Iceberg
//! write task, the scan summary above each Iceberg scan and the reader of data files
//! with row-level deletes) are encoded here, tagged so
//! that they are told apart from Ballista's, which get everything else. Quarry's
//! aggregate functions (the sketches of [`crate::sketch`]) are found by name.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::AggregateUDF;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use serde::{Deserialize, Serialize};

use crate::sketch;
use crate::table::deletes::{DeletesScan, DeletesScanExec};
use crate::table::evolution;
use crate::table::scan::{IcebergScanExec, ScanSummary};
use crate::table::write::{IcebergWriteExec, WriteSpec};

/// The logical-plan codec.
pub fn logical_codec() -> Arc<dyn LogicalExtensionCodec> {
    Arc::new(BallistaLogicalExtensionCodec::default())
}

/// The physical-plan codec used for every task sent to an executor.
pub fn physical_codec() -> Arc<dyn PhysicalExtensionCodec> {
    Arc::new(QuarryPhysicalCodec::default())
}

/// Starts a Flight ticket that asks an executor to run a whole plan and stream its
/// result back (a direct run, the scheduler's path for small queries); a Ballista
/// `TaskDefinition` protobuf, encoded with [`physical_codec`], follows.
pub const RUN_TICKET: &[u8] = b"quarry.run:";

/// Marks bytes encoded by [`QuarryPhysicalCodec`] rather than by Ballista's codec.
const TAG: &[u8] = b"QUARRY1:";

/// Quarry's nodes, as they travel.
#[derive(Serialize, Deserialize)]
enum Node {
    Write(Box<WriteSpec>),
    Scan(ScanSummary),
    Deletes(Box<DeletesScan>),
}

/// Encodes Quarry's nodes, and hands every other node to Ballista's codec.
#[derive(Debug, Default)]
pub struct QuarryPhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for QuarryPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(json) = buf.strip_prefix(TAG) else {
            return self.ballista.try_decode(buf, inputs, ctx);
        };
        let node: Node = serde_json::from_slice(json).map_err(|e| {
            DataFusionError::Internal(format!("cannot decode a Quarry plan node: {e}"))
        })?;
        let input = || match inputs {
            [input] => Ok(Arc::clone(input)),
            _ => Err(DataFusionError::Internal(
                "this Quarry plan node has exactly one input".into(),
            )),
        };
        Ok(match node {
            Node::Write(spec) => Arc::new(IcebergWriteExec::new(input()?, Arc::new(*spec))),
            Node::Scan(summary) => {
                let input = evolution::with_field_ids(input()?, &summary.field_ids)?;
                Arc::new(IcebergScanExec::new(input, summary))
            }
            Node::Deletes(scan) => Arc::new(DeletesScanExec::try_new(*scan)?),
        })
    }

    fn try_encode(&self, node: Arc<dyn ExecutionPlan>, buf: &mut Vec<u8>) -> Result<()> {
        let ours = if let Some(write) = node.as_any().downcast_ref::<IcebergWriteExec>() {
            Node::Write(Box::new(write.spec().as_ref().clone()))
        } else if let Some(scan) = node.as_any().downcast_ref::<IcebergScanExec>() {
            Node::Scan(scan.summary().clone())
        } else if let Some(scan) = node.as_any().downcast_ref::<DeletesScanExec>() {
            Node::Deletes(Box::new(scan.scan().clone()))
        } else {
            return self.ballista.try_encode(node, buf);
        };
        buf.extend_from_slice(TAG);
        serde_json::to_writer(buf, &ours).map_err(|e| {
            DataFusionError::Internal(format!("cannot encode a Quarry plan node: {e}"))
        })
    }

    /// Quarry's own aggregate functions travel by name (the executors' registry has
    /// only DataFusion's).
    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        match sketch::by_name(name) {
            Some(function) => Ok(function),
            None => self.ballista.try_decode_udaf(name, buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion::prelude::SessionContext;

    use super::*;

    #[test]
    fn quarry_nodes_round_trip_and_others_go_to_ballista() {
        let schema = Arc::new(arrow::datatypes::Schema::empty());
        let input: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(schema));
        let summary = ScanSummary {
            table: "gold.t".into(),
            snapshot_id: 7,
            files_planned: 2,
            files_pruned: 5,
            field_ids: vec![("a".into(), 1)],
        };
        let node: Arc<dyn ExecutionPlan> =
            Arc::new(IcebergScanExec::new(Arc::clone(&input), summary));
        let codec = QuarryPhysicalCodec::default();
        let mut buf = Vec::new();
        codec.try_encode(node, &mut buf).unwrap();
        let ctx = SessionContext::new().task_ctx();
        let back = codec.try_decode(&buf, &[input], &ctx).unwrap();
        let back = back.as_any().downcast_ref::<IcebergScanExec>().unwrap();
        assert_eq!(back.summary().files_pruned, 5);
        // A node neither Quarry's nor Ballista's is refused by Ballista's codec.
        let err = codec
            .try_encode(
                Arc::new(EmptyExec::new(Arc::new(arrow::datatypes::Schema::empty()))),
                &mut Vec::new(),
            )
            .unwrap_err();
        assert!(!err.to_string().is_empty());
    }
}
