//! The API's OpenAPI document, generated: one operation per row of
//! [`ROUTES`] (its method and path, `x-coffer-role` from its role, security
//! `bearer`), and from [`op_doc`] what the table does not say: a summary,
//! the query parameters, the request body and the answer, each named by its
//! Rust type (`crate::model::api`, or the catalog's records), whose
//! [`ToSchema`] gives the component schema. `op_doc` matches every [`Op`],
//! so a new route does not compile without its entry.
//!
//! docs/openapi.json is this document, pretty-printed; the test
//! `openapi_file_is_current` (`tests.rs`) fails when the two differ, and
//! rewrites the file instead when `COFFER_WRITE_OPENAPI=1` is set.

use crate::catalog::{Event, Job};
use crate::http::api::route::{Op, Route, PREFIX};
use crate::http::api::table::ROUTES;
use crate::model::api as m;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AllOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApiBuilder, Paths, Ref, RefOr, Required,
    ResponseBuilder, ServerBuilder,
};
use utoipa::{IntoParams, ToSchema};

/// The document's description.
const DESCRIPTION: &str = "The HTTP API of coffer serve. Every request needs \
`Authorization: Bearer TOKEN` (coffer token create). x-coffer-role is the lowest role \
allowed: viewer < operator < admin. Errors answer {\"error\": \"…\", \"kind\": \"…\"} \
(ErrorBody), the kind deciding the status. See docs/api.md.";

/// The error answers every operation may give: status, component name,
/// description.
const ERRORS: &[(&str, &str, &str)] = &[
    ("400", "BadRequest", "a malformed request (kind usage), or one a vault lock or a legal hold refused (kind refused)"),
    ("401", "Unauthorized", "no token, or an unknown, revoked or expired one (WWW-Authenticate: Bearer); nothing was done"),
    ("403", "Forbidden", "the token's role is too low; nothing was done"),
    ("404", "NotFound", "a vault, snapshot, job, rule or restore test named in the path does not exist"),
    ("500", "Internal", "stored data is damaged (kind damaged), or coffer or its state failed (kind internal)"),
    ("503", "Unavailable", "the storage behind a vault failed or cannot be reached (kind unavailable), or the configuration does not allow this (kind config)"),
];

/// The component schemas the operations name, gathered as they are named.
#[derive(Default)]
struct Schemas(BTreeMap<String, RefOr<Schema>>);

impl Schemas {
    /// A reference to `T`'s schema, which (with those it names) becomes a
    /// component.
    fn one<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let name = T::name().into_owned();
        if !self.0.contains_key(&name) {
            self.0.insert(name.clone(), T::schema());
            let mut deps = Vec::new();
            T::schemas(&mut deps);
            self.0.extend(deps);
        }
        Ref::from_schema_name(name).into()
    }

    /// An array of `T`.
    fn list<T: ToSchema>(&mut self) -> RefOr<Schema> {
        ArrayBuilder::new().items(self.one::<T>()).into()
    }
}

/// What the document says of one operation beyond its route.
struct OpDoc {
    summary: &'static str,
    /// Query parameters.
    query: Vec<Parameter>,
    /// The JSON body, when it takes one, and whether it is required.
    body: Option<(RefOr<Schema>, bool)>,
    /// `200` or `202`.
    status: &'static str,
    /// The answer's schema.
    answer: RefOr<Schema>,
}

fn read(summary: &'static str, query: Vec<Parameter>, answer: RefOr<Schema>) -> OpDoc {
    OpDoc {
        summary,
        query,
        body: None,
        status: "200",
        answer,
    }
}

fn act(
    summary: &'static str,
    body: Option<(RefOr<Schema>, bool)>,
    status: &'static str,
    answer: RefOr<Schema>,
) -> OpDoc {
    OpDoc {
        summary,
        query: Vec::new(),
        body,
        status,
        answer,
    }
}

fn query<P: IntoParams>() -> Vec<Parameter> {
    P::into_params(|| Some(ParameterIn::Query))
}

/// `GET /restore-tests`' answer: jobs whose `details` are a restore test's
/// (its verdict and each check PASSED, FAILED or SKIPPED with the reason).
fn restore_test_jobs(s: &mut Schemas) -> RefOr<Schema> {
    let details = OneOfBuilder::new()
        .item(s.one::<crate::model::RestoreTestDetails>())
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "What the restore test recorded (absent until the job ran).",
        ));
    let item = AllOfBuilder::new()
        .item(s.one::<Job>())
        .item(ObjectBuilder::new().property("details", details));
    ArrayBuilder::new().items(item).into()
}

/// The document's entry of each operation.
fn op_doc(op: Op, s: &mut Schemas) -> OpDoc {
    match op {
        Op::OpenApi => read("This OpenAPI document", vec![], s.one::<m::OpenApiDocument>()),
        Op::Vaults => read("The configured vaults", vec![], s.list::<m::VaultView>()),
        Op::Snapshots => read("The snapshots of a vault (with legal-hold flag)",
            vec![],
            s.list::<m::SnapshotView>(),
        ),
        Op::SnapshotFiles => read("One directory of a snapshot: its entries (name, type, size, mode, mtime)",
            query::<m::FilesQuery>(),
            s.one::<m::SnapshotFiles>(),
        ),
        Op::Sources => read("The configured sources with their health (RPO/RTO status)",
            vec![],
            s.list::<m::SourceView>(),
        ),
        Op::Rules => read("Plans and their rules", vec![], s.list::<m::PlanView>()),
        Op::Jobs => read("Jobs, newest first", query::<m::JobsQuery>(), s.list::<Job>()),
        Op::Job => read("One job with its events", vec![], s.one::<m::JobWithEvents>()),
        Op::RestoreTests => read("Recent restore-test jobs and their results",
            query::<m::RestoreTestsQuery>(),
            restore_test_jobs(s),
        ),
        Op::Report => read("The compliance report (controls with status and evidence)",
            query::<m::ReportQuery>(),
            s.one::<m::ReportView>(),
        ),
        Op::Events => read("Recent events (newest last)",
            query::<m::EventsQuery>(),
            s.list::<Event>(),
        ),
        Op::RuleRun => act("Run a rule now (every source it selects, in the background)",
            Some((s.one::<m::RuleRunRequest>(), false)),
            "202",
            s.one::<m::RuleStarted>(),
        ),
        Op::Verify => act("Verify a vault as a job (in the background)",
            Some((s.one::<m::VerifyRequest>(), false)),
            "202",
            s.one::<m::JobStarted>(),
        ),
        Op::RestoreTestRun => act("Run a restore test now (in the background)",
            None,
            "202",
            s.one::<m::RestoreTestStarted>(),
        ),
        Op::Forget => act("Forget snapshots by id: preview (dry_run, the default; operator) or for real (admin)",
            Some((s.one::<m::ForgetRequest>(), true)),
            "200",
            s.one::<m::ForgetAnswer>(),
        ),
        Op::Restore => act("Restore a files snapshot into a new directory under the state directory's restores/ (a restore job)",
            Some((s.one::<m::RestoreRequest>(), false)),
            "202",
            s.one::<m::RestoreStarted>(),
        ),
        Op::Hold => act("Place a legal hold on a snapshot",
            Some((s.one::<m::HoldRequest>(), false)),
            "200",
            s.one::<m::HoldPlaced>(),
        ),
        Op::WhoAmI => read(
            "Who the caller is: its token's name and role, and each operation with the role it needs and whether this token may call it",
            vec![],
            s.one::<m::WhoAmI>(),
        ),
        Op::Fleet => read(
            "Every host that writes fleet records into the configured vaults: when it was last heard of, whether it is silent, and each source against its RPO and RTO, as the daemon last read them",
            vec![],
            s.one::<m::FleetStatus>(),
        ),
        Op::Release => act("Release the legal hold of a snapshot",
            None,
            "200",
            s.one::<m::HoldView>(),
        ),
    }
}

/// What a path parameter names.
fn path_param(name: &str) -> &'static str {
    match name {
        "vault" => "the vault's name in the configuration (GET /api/v1/vaults lists them)",
        "snapshot" => "a snapshot id, or a unique prefix of one (its short id)",
        "id" => "a job id (42, or job-42)",
        "plan" => "the plan's name",
        "rule" => "the rule's name within the plan",
        "name" => "the restore test's name",
        _ => "",
    }
}

fn json_content(schema: RefOr<Schema>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

/// The operation of one route.
fn operation(route: &Route, s: &mut Schemas) -> utoipa::openapi::path::Operation {
    let d = op_doc(route.op, s);
    let params: Vec<&str> = route
        .path
        .split('/')
        .filter_map(|p| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        .collect();
    let mut b = OperationBuilder::new()
        .operation_id(Some(route.op.id()))
        .summary(Some(d.summary))
        .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
        .extensions(Some(
            ExtensionsBuilder::new()
                .add("x-coffer-role", route.role.as_str())
                .build(),
        ));
    for p in &params {
        b = b.parameter(
            ParameterBuilder::new()
                .name(*p)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(path_param(p)))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        );
    }
    let takes_input = !params.is_empty() || !d.query.is_empty() || d.body.is_some();
    for q in d.query {
        b = b.parameter(q);
    }
    if let Some((schema, required)) = d.body {
        b = b.request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", json_content(schema))
                .required(Some(if required {
                    Required::True
                } else {
                    Required::False
                }))
                .build(),
        ));
    }
    let ok = if d.status == "202" {
        "Accepted: the job runs in the background"
    } else {
        "OK"
    };
    b = b.response(
        d.status,
        ResponseBuilder::new()
            .description(ok)
            .content("application/json", json_content(d.answer))
            .build(),
    );
    for (status, name, _) in ERRORS {
        let applies = match *status {
            "400" => takes_input,
            "404" => !params.is_empty(),
            _ => true,
        };
        if applies {
            b = b.response(*status, Ref::from_response_name(*name));
        }
    }
    b.build()
}

/// The OpenAPI document of the API, built from [`ROUTES`] and the types
/// of its requests and answers (see the module's documentation).
fn build() -> Value {
    let mut schemas = Schemas::default();
    let mut paths = Paths::new();
    for route in ROUTES {
        let method = match route.method {
            "GET" => HttpMethod::Get,
            _ => HttpMethod::Post,
        };
        let op = operation(route, &mut schemas);
        paths.add_path_operation(format!("{PREFIX}{}", route.path), vec![method], op);
    }
    let error = schemas.one::<m::ErrorBody>();
    let mut components = ComponentsBuilder::new().security_scheme(
        "bearer",
        SecurityScheme::Http(utoipa::openapi::security::Http::new(HttpAuthScheme::Bearer)),
    );
    for (_, name, description) in ERRORS {
        components = components.response(
            *name,
            ResponseBuilder::new()
                .description(*description)
                .content("application/json", json_content(error.clone()))
                .build(),
        );
    }
    let mut components = components.build();
    components.schemas = schemas.0;
    let doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("coffer API")
                .version("1")
                .description(Some(DESCRIPTION))
                .build(),
        )
        .servers(Some([ServerBuilder::new()
            .url("http://127.0.0.1:9870")
            .build()]))
        .components(Some(components))
        .security(Some([SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]))
        .paths(paths)
        .build();
    serde_json::to_value(&doc).unwrap_or_else(|e| json!({"error": e.to_string()}))
}

/// The OpenAPI document of the API (served at `GET /api/v1/openapi.json`;
/// docs/openapi.json is a copy), built once.
pub fn openapi_document() -> Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build).clone()
}
