//! Simulated billing reconciliation exports (`/v1.0/reports/partners/billing/...`): billed
//! (`{invoiceId, attributeSet}`) and unbilled (`{billingPeriod, currencyCode, attributeSet}`)
//! export requests answer 202 with a `Location` of an operation; the operation is `running` for
//! `SimBilling::running_polls` polls, then `succeeded` (with a manifest link), or `failed` with
//! code 5000 for a legacy invoice (or another code for a failing one); the manifest lists one
//! blob on this simulator (`/blobs/billing/{operation}/{name}?...&sig=...`), served WITHOUT a
//! bearer token as gzip-compressed JSON lines, and only with the manifest's SAS signature.
//!
//! Line items come from the dataset (`Dataset::billing`), plus `synthetic_lines` generated ones
//! (spread over the dataset's customers) for the benchmark.

use std::io::Write as _;
use std::sync::Arc;

use axum::response::{IntoResponse as _, Response};
use serde_json::{Value, json};

use super::{GraphCtx, graph_error};
use crate::sim::dataset::{SimLineItem, SimOperation, guid_from};
use crate::sim::lock;
use crate::sim::state::Shared;
use crate::sim::wire::{SimResponse, naive_time, parse_pairs};

/// The endpoint template of a billing path (`rest` is lower-cased, after `.../billing/`).
pub fn template(method: &str, rest: &[&str]) -> &'static str {
    match (method, rest) {
        ("POST", ["reconciliation", "billed", "export"]) => {
            "POST /v1.0/reports/partners/billing/reconciliation/billed/export"
        }
        ("POST", ["reconciliation", "unbilled", "export"]) => {
            "POST /v1.0/reports/partners/billing/reconciliation/unbilled/export"
        }
        ("GET", ["operations", _]) => "GET /v1.0/reports/partners/billing/operations/{id}",
        ("GET", ["manifests", _]) => "GET /v1.0/reports/partners/billing/manifests/{id}",
        _ => "GRAPH /v1.0/reports/partners/billing/...",
    }
}

/// Serve a billing reconciliation request.
pub fn handle(ctx: &GraphCtx<'_>) -> SimResponse {
    let rest: Vec<String> = ctx
        .segs
        .iter()
        .skip(3)
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let result = match (ctx.method, rest.as_slice()) {
        ("POST", ["reconciliation", "billed", "export"]) => start_billed(ctx),
        ("POST", ["reconciliation", "unbilled", "export"]) => start_unbilled(ctx),
        ("GET", ["operations", id]) => Ok(operation(ctx, id)),
        ("GET", ["manifests", id]) => Ok(manifest(ctx, id)),
        _ => Err(graph_error(
            404,
            "ResourceNotFound",
            "No billing resource matches this path.",
        )),
    };
    result.unwrap_or_else(|e| e)
}

fn attribute_set(body: &Value) -> Result<(), SimResponse> {
    match body.get("attributeSet").and_then(Value::as_str) {
        None | Some("full" | "basic") => Ok(()),
        Some(other) => Err(graph_error(
            400,
            "BadRequest",
            &format!("attributeSet '{other}' is not one of full, basic."),
        )),
    }
}

fn start_billed(ctx: &GraphCtx<'_>) -> Result<SimResponse, SimResponse> {
    let body = ctx.json_body()?;
    attribute_set(&body)?;
    let Some(invoice) = body.get("invoiceId").and_then(Value::as_str) else {
        return Err(graph_error(400, "BadRequest", "invoiceId is required."));
    };
    let mut data = lock(&ctx.sh.data);
    let Some(inv) = data
        .ds
        .invoices
        .iter()
        .find(|i| i.id.eq_ignore_ascii_case(invoice))
    else {
        return Err(graph_error(
            400,
            "BadRequest",
            &format!("Invoice {invoice} was not found for this partner."),
        ));
    };
    let subject = inv.id.clone();
    Ok(accepted(
        ctx,
        &mut data.ds.billing.operations,
        "billed",
        subject,
    ))
}

fn start_unbilled(ctx: &GraphCtx<'_>) -> Result<SimResponse, SimResponse> {
    let body = ctx.json_body()?;
    attribute_set(&body)?;
    match body.get("billingPeriod").and_then(Value::as_str) {
        Some("current" | "last") => {}
        _ => {
            return Err(graph_error(
                400,
                "BadRequest",
                "billingPeriod must be current or last.",
            ));
        }
    }
    let currency = body
        .get("currencyCode")
        .and_then(Value::as_str)
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .ok_or_else(|| graph_error(400, "BadRequest", "currencyCode must be an ISO 4217 code."))?
        .to_ascii_uppercase();
    let mut data = lock(&ctx.sh.data);
    Ok(accepted(
        ctx,
        &mut data.ds.billing.operations,
        "unbilled",
        currency,
    ))
}

fn accepted(
    ctx: &GraphCtx<'_>,
    ops: &mut Vec<SimOperation>,
    kind: &'static str,
    subject: String,
) -> SimResponse {
    let id = guid_from(&mut lock(&ctx.sh.id_rng));
    ops.push(SimOperation {
        id: id.clone(),
        kind,
        subject,
        polls: 0,
    });
    SimResponse {
        status: 202,
        headers: vec![
            (
                "location".into(),
                ctx.absolute(&format!("/v1.0/reports/partners/billing/operations/{id}")),
            ),
            ("retry-after".into(), "2".into()),
        ],
        body: String::new(),
    }
}

/// What an operation says after this poll.
enum State {
    Running,
    Failed(&'static str, &'static str),
    Succeeded,
}

fn state_of(billing: &crate::sim::dataset::SimBilling, op: &SimOperation) -> State {
    let listed = |l: &[String]| l.iter().any(|i| i.eq_ignore_ascii_case(&op.subject));
    if op.polls <= billing.running_polls {
        State::Running
    } else if op.kind == "billed" && listed(&billing.legacy_invoices) {
        State::Failed("5000", "No data available")
    } else if op.kind == "billed" && listed(&billing.failing_invoices) {
        State::Failed(
            "7000",
            "An internal error occurred while generating the export.",
        )
    } else {
        State::Succeeded
    }
}

fn operation(ctx: &GraphCtx<'_>, id: &str) -> SimResponse {
    let now = naive_time(ctx.sh.now());
    let mut data = lock(&ctx.sh.data);
    let billing = &mut data.ds.billing;
    let Some(pos) = billing.operations.iter().position(|o| o.id == id) else {
        return graph_error(
            404,
            "ResourceNotFound",
            &format!("Operation {id} not found."),
        );
    };
    billing.operations[pos].polls += 1;
    let op = billing.operations[pos].clone();
    match state_of(billing, &op) {
        State::Running => SimResponse::json(
            200,
            &json!({
                "@odata.type": "#microsoft.graph.partners.billing.runningOperation",
                "id": op.id, "status": "running",
                "createdDateTime": now, "lastActionDateTime": now,
            }),
        )
        .with_header("retry-after", "2"),
        State::Failed(code, message) => SimResponse::json(
            200,
            &json!({
                "@odata.type": "#microsoft.graph.partners.billing.failedOperation",
                "id": op.id, "status": "failed",
                "createdDateTime": now, "lastActionDateTime": now,
                "error": {"code": code, "message": message},
            }),
        ),
        State::Succeeded => SimResponse::json(
            200,
            &json!({
                "@odata.type": "#microsoft.graph.partners.billing.exportSuccessOperation",
                "id": op.id, "status": "succeeded",
                "createdDateTime": now, "lastActionDateTime": now,
                "resourceLocation@odata.navigationLink":
                    ctx.absolute(&format!("/v1.0/reports/partners/billing/manifests/{}", op.id)),
            }),
        ),
    }
}

/// The SAS signature of an operation's blobs.
fn signature(sh: &Shared, op: &str) -> String {
    let h = op.bytes().fold(sh.token_key ^ 0x5a5a_b10b, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{h:016x}")
}

fn manifest(ctx: &GraphCtx<'_>, id: &str) -> SimResponse {
    let data = lock(&ctx.sh.data);
    let billing = &data.ds.billing;
    let found = billing.operations.iter().find(|o| o.id == id);
    let Some(op) = found.filter(|o| matches!(state_of(billing, o), State::Succeeded)) else {
        return graph_error(
            404,
            "ResourceNotFound",
            &format!("Manifest {id} not found."),
        );
    };
    let sas = format!(
        "sv=2021-08-06&se=2099-01-01T00%3A00%3A00Z&sr=d&sp=rl&sig={}",
        signature(ctx.sh, &op.id)
    );
    SimResponse::json(
        200,
        &json!({
            "id": op.id,
            "schemaVersion": "2",
            "dataFormat": "compressedJSON",
            "createdDateTime": naive_time(ctx.sh.now()),
            "eTag": format!("sim-{}", op.id),
            "partnerTenantId": data.ds.partner_id,
            "rootDirectory": ctx.absolute(&format!("/blobs/billing/{}", op.id)),
            "sasToken": sas,
            "partitionType": "Default",
            "blobCount": 1,
            "blobs": [{"name": format!("part-00000-{}.json.gz", op.id), "partitionValue": "default"}],
        }),
    )
}

/// One line item as the export writes it (camelCase, the fields of the `full` attribute set
/// cspguard reads plus a few it ignores).
fn line_json(partner: &str, l: &SimLineItem) -> String {
    let subtotal = l.unit_price * rust_decimal::Decimal::from(l.quantity);
    json!({
        "partnerId": partner,
        "customerId": l.customer_id,
        "customerName": l.customer_name,
        "invoiceNumber": l.invoice,
        "productId": l.product_id,
        "productName": l.product_name,
        "chargeStartDate": naive_time(l.charge_start),
        "chargeEndDate": naive_time(l.charge_end),
        "unitPrice": l.unit_price.to_string(),
        "effectiveUnitPrice": l.unit_price.to_string(),
        "quantity": l.quantity,
        "subtotal": subtotal.to_string(),
        "taxTotal": "0",
        "totalForCustomer": subtotal.to_string(),
        "currency": l.currency,
    })
    .to_string()
}

/// Everything a blob holds, taken out of the lock.
struct BlobPlan {
    partner: String,
    lines: Vec<SimLineItem>,
    synthetic: u64,
    customers: Vec<(String, String, String)>,
}

fn blob_plan(sh: &Shared, op: &str, sig: Option<&str>) -> Result<BlobPlan, (u16, &'static str)> {
    let data = lock(&sh.data);
    let billing = &data.ds.billing;
    let Some(op) = billing.operations.iter().find(|o| o.id == op) else {
        return Err((404, "BlobNotFound"));
    };
    if sig != Some(signature(sh, &op.id).as_str()) {
        return Err((403, "AuthenticationFailed"));
    }
    let source = if op.kind == "billed" {
        &billing.billed
    } else {
        &billing.unbilled
    };
    let lines = source
        .iter()
        .filter(|l| match op.kind {
            "billed" => l
                .invoice
                .as_deref()
                .is_some_and(|i| i.eq_ignore_ascii_case(&op.subject)),
            _ => l.currency.eq_ignore_ascii_case(&op.subject),
        })
        .cloned()
        .collect();
    Ok(BlobPlan {
        partner: data.ds.partner_id.clone(),
        lines,
        synthetic: if op.kind == "billed" {
            billing.synthetic_lines
        } else {
            0
        },
        customers: data
            .ds
            .customers
            .iter()
            .map(|c| (c.id.clone(), c.company_name.clone(), c.currency.clone()))
            .collect(),
    })
}

fn gzip(plan: &BlobPlan) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for l in &plan.lines {
        gz.write_all(line_json(&plan.partner, l).as_bytes())?;
        gz.write_all(b"\n")?;
    }
    if !plan.customers.is_empty() {
        for i in 0..plan.synthetic {
            let (id, name, currency) = &plan.customers[(i as usize) % plan.customers.len()];
            writeln!(
                gz,
                r#"{{"partnerId":"{}","customerId":"{id}","customerName":{},"productId":"SYN{:04}","productName":"Metered service {}","quantity":1,"subtotal":"0.{:02}","currency":"{currency}","chargeType":"usage"}}"#,
                plan.partner,
                Value::from(name.as_str()),
                i % 40,
                i % 40,
                i % 100,
            )?;
        }
    }
    gz.finish()
}

/// `GET /blobs/billing/{operation}/{name}?...&sig=...`: the export's gzip JSON lines, without
/// any bearer token (Azure storage checks the SAS signature only).
pub async fn blob(
    axum::extract::State(sh): axum::extract::State<Arc<Shared>>,
    req: axum::extract::Request,
) -> Response {
    let path = req.uri().path().to_owned();
    let params = req.uri().query().map(parse_pairs).unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            let name = k.as_str().to_ascii_lowercase();
            let value = if name == "authorization" {
                "<redacted>".to_owned()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            };
            (name, value)
        })
        .collect();
    let slot = sh.record_start(crate::sim::RecordedRequest {
        method: req.method().as_str().to_owned(),
        path: path.clone(),
        query: req.uri().query().map(str::to_owned),
        headers,
        status: 0,
        endpoint: "GET /blobs/billing/{operation}/{name}".to_owned(),
    });
    let response = serve_blob(&sh, &path, &params).await;
    sh.record_finish(slot, response.status().as_u16());
    response
}

async fn serve_blob(sh: &Arc<Shared>, path: &str, params: &[(String, String)]) -> Response {
    let sig = params
        .iter()
        .find(|(k, _)| k == "sig")
        .map(|(_, v)| v.as_str());
    let op = path.split('/').nth(3).unwrap_or_default().to_owned();
    let plan = match blob_plan(sh, &op, sig) {
        Ok(p) => p,
        Err((status, code)) => {
            let status = axum::http::StatusCode::from_u16(status)
                .unwrap_or(axum::http::StatusCode::NOT_FOUND);
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code></Error>"
            );
            return (status, [("content-type", "application/xml")], body).into_response();
        }
    };
    match tokio::task::spawn_blocking(move || gzip(&plan)).await {
        Ok(Ok(bytes)) => (
            axum::http::StatusCode::OK,
            [("content-type", "application/octet-stream")],
            bytes,
        )
            .into_response(),
        _ => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
