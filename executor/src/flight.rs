//! The executor's Arrow Flight service: Ballista's (shuffle and result fetches, which
//! it serves unchanged) plus Quarry's direct runs (a `DoGet` whose ticket carries a
//! whole plan, [`crate::direct`]) and one action, [`HELD_FILES_ACTION`], with which
//! the scheduler asks what reflection files the executor holds in memory (for the
//! bytes in memory of `sys.reflections`).

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use ballista_executor::flight_service::BallistaFlightService;
use futures::Stream;
use quarry_catalog::reflection::HELD_FILES_ACTION;
use tonic::{Request, Response, Status, Streaming};

use crate::cache::ReflectionCache;
use crate::direct::DirectRuns;

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Ballista's Flight service with Quarry's direct runs and action.
pub struct ExecutorFlight {
    ballista: BallistaFlightService,
    cache: Option<Arc<ReflectionCache>>,
    direct: DirectRuns,
}

impl ExecutorFlight {
    /// Serves the shuffle files under `work_dir`, what `cache` holds, and direct runs.
    pub fn new(work_dir: String, cache: Option<Arc<ReflectionCache>>, direct: DirectRuns) -> Self {
        Self {
            ballista: BallistaFlightService::new(work_dir),
            cache,
            direct,
        }
    }
}

#[tonic::async_trait]
impl FlightService for ExecutorFlight {
    type HandshakeStream = Boxed<HandshakeResponse>;
    type ListFlightsStream = Boxed<FlightInfo>;
    type DoGetStream = Boxed<FlightData>;
    type DoPutStream = Boxed<PutResult>;
    type DoActionStream = Boxed<arrow_flight::Result>;
    type ListActionsStream = Boxed<ActionType>;
    type DoExchangeStream = Boxed<FlightData>;

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        if request.get_ref().r#type != HELD_FILES_ACTION {
            return self.ballista.do_action(request).await;
        }
        let held = match &self.cache {
            Some(cache) => cache.held_files().await,
            None => Vec::new(),
        };
        let body = serde_json::to_vec(&held).map_err(|e| Status::internal(e.to_string()))?;
        let result = arrow_flight::Result { body: body.into() };
        Ok(Response::new(Box::pin(futures::stream::once(async {
            Ok(result)
        }))))
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        self.ballista.list_actions(request).await
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        match DirectRuns::task(&request.get_ref().ticket) {
            Some(task) => Ok(Response::new(Box::pin(self.direct.run(task?)?))),
            None => self.ballista.do_get(request).await,
        }
    }

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        self.ballista.handshake(request).await
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        self.ballista.list_flights(request).await
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.ballista.get_flight_info(request).await
    }

    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        self.ballista.poll_flight_info(request).await
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        self.ballista.get_schema(request).await
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        self.ballista.do_put(request).await
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        self.ballista.do_exchange(request).await
    }
}
