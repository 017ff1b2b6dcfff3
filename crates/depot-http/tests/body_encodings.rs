//! Every request body field of every operation, in every encoding a Pulp client uses: JSON
//! (pulp-glue's default), url-encoded forms as Ansible's `uri` module and pulp.squeezer send
//! them (lists as repeated keys or one key, booleans as `True`/`False`), forms and multipart
//! as pulp-glue sends them (lists and objects as JSON text, booleans as `true`/`false`), and
//! empty strings for nullable fields. Each must reach the handler as the same JSON.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use serde_json::{Map, Value, json};

use depot_http::payload::{self, BodyShape, FieldShape, Shape};

/// One way of sending a field: the form values for it, and what it must read as.
struct Case {
    label: &'static str,
    form: Vec<String>,
    json: Value,
}

fn cases(f: FieldShape) -> Vec<Case> {
    let c = |label, form: &[&str], json| Case {
        label,
        form: form.iter().map(|s| s.to_string()).collect(),
        json,
    };
    let mut out = match f.shape {
        Shape::List => vec![
            c("repeated keys", &["a", "b c"], json!(["a", "b c"])),
            c("one key", &["only"], json!(["only"])),
            c("JSON text", &[r#"["a","b"]"#], json!(["a", "b"])),
        ],
        Shape::Bool => vec![
            c("true", &["true"], json!(true)),
            c("Ansible True", &["True"], json!(true)),
            c("0", &["0"], json!(false)),
            c("false", &["false"], json!(false)),
        ],
        Shape::Int => vec![c("integer", &["7"], json!(7))],
        Shape::Num => vec![
            c("number", &["2.5"], json!(2.5)),
            c("whole number", &["3"], json!(3.0)),
        ],
        Shape::Json => vec![
            c("JSON object text", &[r#"{"k":"v"}"#], json!({"k": "v"})),
            c("JSON list text", &[r#"[{"k":"v"}]"#], json!([{"k": "v"}])),
        ],
        Shape::Text => vec![
            c("text", &["some text"], json!("some text")),
            c("repeated: last wins", &["first", "last"], json!("last")),
        ],
        Shape::Token => vec![c("token", &["/pulp/api/v3/x/"], json!("/pulp/api/v3/x/"))],
        Shape::File => Vec::new(),
    };
    if f.nullable && f.shape != Shape::File {
        out.push(c("empty string for null", &[""], Value::Null));
    }
    out
}

fn form_body(name: &str, values: &[String]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for v in values {
        s.append_pair(name, v);
    }
    s.finish().into_bytes()
}

const BOUNDARY: &str = "depot-test-boundary-7d3f";

fn multipart_body(name: &str, values: &[String], with_file: bool) -> Vec<u8> {
    let mut b = Vec::new();
    for v in values {
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{v}\r\n"
            )
            .as_bytes(),
        );
    }
    if with_file {
        // squeezer's disposition type is `file`, not `form-data`
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: file; name=\"file\"; filename=\"file\"\r\nContent-Type: application/octet-stream\r\n\r\nbytes\r\n"
            )
            .as_bytes(),
        );
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

async fn read(
    depot: &depot_core::Depot,
    content_type: &str,
    body: Vec<u8>,
    shape: &BodyShape,
) -> Map<String, Value> {
    let req = Request::builder()
        .method("POST")
        .uri("/x")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();
    match payload::read(depot, req, Some(shape)).await {
        Ok(p) => p.fields,
        Err(e) => panic!("{content_type} body refused: {:?}", e.body),
    }
}

#[tokio::test]
async fn every_body_field_reads_the_same_in_json_form_and_multipart() {
    let tmp = tempfile::tempdir().unwrap();
    let depot = depot_core::Depot::open(
        depot_core::Config {
            data_dir: tmp.path().join("data"),
            content_origin: "http://127.0.0.1:1".into(),
            workers: 1,
            secret_key_file: tmp.path().join("secrets.key"),
            database: None,
            roles: Default::default(),
            blob_store: Default::default(),
            redirect_to_object_storage: false,
        },
        vec![depot_file::plugin(), depot_rpm::plugin()],
    )
    .await
    .unwrap();
    let mut ops = depot_http::routes::operations(&depot);
    let doc = depot_http::openapi::document(&depot, &ops);
    depot_http::attach_body_shapes(&mut ops, &doc);

    let mut tried: BTreeMap<String, usize> = BTreeMap::new();
    let mut with_body = 0;
    for op in &ops {
        let Some(body) = &op.body else { continue };
        with_body += 1;
        let shape = op.shape.as_ref().expect("shape attached");
        assert!(
            doc["components"]["schemas"][&body.schema]["properties"].is_object(),
            "{}: body schema {} has no properties",
            op.id,
            body.schema
        );
        let has_file = shape.fields.values().any(|f| f.shape == Shape::File);
        for (name, field) in &shape.fields {
            for case in cases(*field) {
                let what = format!("{} {name} ({})", op.id, case.label);
                // JSON itself, when the operation takes it
                if body.media.contains(&"application/json") {
                    let mut m = Map::new();
                    m.insert(name.clone(), case.json.clone());
                    let got = read(
                        &depot,
                        "application/json",
                        serde_json::to_vec(&m).unwrap(),
                        shape,
                    )
                    .await;
                    assert_eq!(got.get(name), Some(&case.json), "{what}: JSON");
                }
                if body.media.contains(&"application/x-www-form-urlencoded") {
                    let got = read(
                        &depot,
                        "application/x-www-form-urlencoded; charset=utf-8",
                        form_body(name, &case.form),
                        shape,
                    )
                    .await;
                    assert_eq!(got.get(name), Some(&case.json), "{what}: form");
                }
                if body.media.contains(&"multipart/form-data") {
                    let got = read(
                        &depot,
                        &format!("multipart/form-data; boundary={BOUNDARY}"),
                        multipart_body(name, &case.form, has_file),
                        shape,
                    )
                    .await;
                    assert_eq!(got.get(name), Some(&case.json), "{what}: multipart");
                }
                *tried.entry(format!("{:?}", field.shape)).or_default() += 1;
            }
        }
    }
    assert!(with_body > 50, "only {with_body} operations take a body");
    for kind in ["List", "Bool", "Int", "Num", "Json", "Text", "Token"] {
        assert!(
            tried.get(kind).copied().unwrap_or(0) > 0,
            "no operation has a {kind} field: {tried:?}"
        );
    }
}

#[tokio::test]
async fn absent_and_blank_fields_in_forms() {
    // A blank value for a field that cannot be blank means "not given" (so a create takes the
    // default and a PATCH leaves the field alone), except where the field is required.
    let shape = BodyShape::from_schema(&json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "policy": {"type": "string", "enum": ["immediate", "on_demand"]},
            "tls_validation": {"type": "boolean"},
            "description": {"type": "string", "nullable": true},
            "groups": {"type": "array", "items": {"type": "string"}},
        },
    }));
    let tmp = tempfile::tempdir().unwrap();
    let depot = depot_core::Depot::open(
        depot_core::Config {
            data_dir: tmp.path().join("data"),
            content_origin: "http://127.0.0.1:1".into(),
            workers: 1,
            secret_key_file: tmp.path().join("secrets.key"),
            database: None,
            roles: Default::default(),
            blob_store: Default::default(),
            redirect_to_object_storage: false,
        },
        vec![],
    )
    .await
    .unwrap();
    let got = read(
        &depot,
        "application/x-www-form-urlencoded",
        b"name=&policy=&tls_validation=&description=&groups=".to_vec(),
        &shape,
    )
    .await;
    assert_eq!(
        Value::Object(got),
        json!({"name": "", "description": null, "groups": []})
    );
}
