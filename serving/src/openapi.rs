//! The OpenAPI document of every route (utoipa), served at `/openapi.json` and committed as
//! `serving/openapi.json` (a test keeps the two equal).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{app, classify, forecast, oip, propose};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "hcp prediction API", description = "Forecasts, workload classification and schedule proposals for power-capped mining and GPU sites."),
    paths(
        forecast::forecast_price,
        forecast::forecast_demand,
        classify::classify,
        propose::propose,
        app::reload,
        app::info,
        oip::server_metadata,
        oip::live,
        oip::ready,
        oip::model_metadata,
        oip::model_version_metadata,
        oip::model_ready,
        oip::model_version_ready,
        oip::infer,
        oip::infer_version,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "forecast", description = "Price and GPU-demand forecasts"),
        (name = "classify", description = "Workload classification"),
        (name = "schedule", description = "Schedule proposals (operate role)"),
        (name = "v2", description = "Open Inference Protocol v2"),
        (name = "service", description = "Service information and administration"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The document, pretty-printed (what `/openapi.json` serves).
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().expect("the OpenAPI document serialises")
}
