//! Form-encoded and multipart bodies as the release train's own automation sends them: the
//! calls of the `stackhpc.pulp` Ansible roles (through `ansible.builtin.uri` with
//! `body_format: form-urlencoded`), reproduced with curl, and the same object created in
//! JSON, form and multipart reading back identically.

use depot_testkit::DepotServer;
use reqwest::Method;
use serde_json::{Value, json};

use crate::access::get_as;
use crate::common::BIN;

/// `curl -u admin:... -X METHOD URL ARGS...`: (status, JSON body or Null).
fn curl(depot: &DepotServer, method: &str, path: &str, args: &[&str]) -> (u16, Value) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--noproxy", "*", "-o", "-", "-w", "\n%{http_code}"])
        .args(["-u", &format!("admin:{}", depot_testkit::ADMIN_PASSWORD)])
        .args(["-X", method, &depot.api(path)])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn href(v: &Value) -> String {
    v["pulp_href"].as_str().expect("pulp_href").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stackhpc_pulp_role_calls_with_form_bodies() {
    let depot = DepotServer::start(BIN).await;

    // pulp_group: look up, create
    let (s, v) = curl(&depot, "GET", "groups/?name=stackhpc-dev", &[]);
    assert_eq!((s, v["count"].clone()), (200, json!(0)));
    let (s, group) = curl(&depot, "POST", "groups/", &["-d", "name=stackhpc-dev"]);
    assert_eq!(s, 201, "{group}");
    let (s, other) = curl(&depot, "POST", "groups/", &["-d", "name=customers"]);
    assert_eq!(s, 201, "{other}");

    // pulp_user with an older Ansible: unset variables arrive as empty strings
    let (s, ci) = curl(
        &depot,
        "POST",
        "users/",
        &[
            "-d",
            "username=ci",
            "--data-urlencode",
            "password=S3cret-pass!word",
            "-d",
            "first_name=",
            "-d",
            "last_name=",
            "-d",
            "email=",
            "-d",
            "is_staff=True",
            "-d",
            "is_active=",
        ],
    );
    assert_eq!(s, 201, "{ci}");
    assert_eq!(ci["is_staff"], true);
    assert_eq!(ci["is_active"], true, "a blank boolean takes the default");
    assert_eq!(ci["first_name"], "");
    // and with a newer one, which leaves them out
    let (s, outsider) = curl(
        &depot,
        "POST",
        "users/",
        &[
            "-d",
            "username=outsider",
            "-d",
            "password=An0ther-pass!word",
            "-d",
            "is_staff=False",
        ],
    );
    assert_eq!(s, 201, "{outsider}");
    assert_eq!(outsider["is_staff"], false);
    let (s, v) = curl(
        &depot,
        "PATCH",
        &href(&ci),
        &[
            "-d",
            "username=ci",
            "-d",
            "first_name=Bob",
            "-d",
            "last_name=",
            "-d",
            "is_staff=",
            "-d",
            "is_active=True",
        ],
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["first_name"], "Bob");
    assert_eq!(
        v["is_staff"], true,
        "a blank boolean in a PATCH changes nothing"
    );
    let (s, v) = curl(&depot, "GET", "users/?username=ci", &[]);
    assert_eq!((s, v["count"].clone()), (200, json!(1)));
    // group membership (the role sends JSON here)
    let (s, v) = curl(
        &depot,
        "POST",
        &format!("{}users/", href(&group)),
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"username":"ci"}"#,
        ],
    );
    assert_eq!(s, 201, "{v}");

    // pulp_content_guard: create, update, look up, roles
    let (s, guard) = curl(
        &depot,
        "POST",
        "contentguards/core/rbac/",
        &["-d", "name=development", "-d", "description="],
    );
    assert_eq!(s, 201, "{guard}");
    assert_eq!(guard["description"], Value::Null);
    let g = href(&guard);
    let (s, v) = curl(
        &depot,
        "PATCH",
        &g,
        &["-d", "name=development", "-d", "description=my desc"],
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["description"], "my desc");
    let (s, v) = curl(
        &depot,
        "GET",
        "contentguards/core/rbac/?name=development",
        &[],
    );
    assert_eq!((s, v["count"].clone()), (200, json!(1)));
    let (s, v) = curl(&depot, "GET", &format!("{g}list_roles/"), &[]);
    assert_eq!(s, 200, "{v}");
    let (s, v) = curl(
        &depot,
        "POST",
        &format!("{g}add_role/"),
        &[
            "-d",
            "role=core.rbaccontentguard_downloader",
            "-d",
            "groups=stackhpc-dev",
        ],
    );
    assert_eq!(s, 201, "add_role with one group: {v}");
    assert_eq!(v["groups"], json!(["stackhpc-dev"]));
    assert_eq!(v["users"], json!([]));
    let (s, v) = curl(
        &depot,
        "POST",
        &format!("{g}add_role/"),
        &[
            "-d",
            "role=core.rbaccontentguard_downloader",
            "-d",
            "groups=customers",
            "-d",
            "users=outsider",
        ],
    );
    assert_eq!(s, 201, "{v}");
    let (_, roles) = curl(&depot, "GET", &format!("{g}list_roles/"), &[]);
    let downloader = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "core.rbaccontentguard_downloader")
        .cloned()
        .unwrap_or_else(|| panic!("no downloader role in {roles}"));
    let mut groups: Vec<String> =
        serde_json::from_value(downloader["groups"].clone()).unwrap_or_default();
    groups.sort();
    assert_eq!(groups, ["customers", "stackhpc-dev"]);

    // the guard now decides who reads a distribution
    let (_, repo) = curl(
        &depot,
        "POST",
        "repositories/file/file/",
        &["-d", "name=guarded"],
    );
    let t = depot
        .run_ok(
            Method::POST,
            "distributions/file/file/",
            Some(json!({"name": "guarded", "base_path": "guarded", "repository": href(&repo), "content_guard": g})),
        )
        .await;
    assert_eq!(t["state"], "completed");
    assert_eq!(
        get_as(&depot, "guarded/", Some(("ci", "S3cret-pass!word"))).await,
        200
    );
    assert_eq!(get_as(&depot, "guarded/", None).await, 401);

    // remove_role with repeated keys, for a user and a group at once (Pulp answers 201)
    let (s, v) = curl(
        &depot,
        "POST",
        &format!("{g}remove_role/"),
        &[
            "-d",
            "role=core.rbaccontentguard_downloader",
            "-d",
            "groups=stackhpc-dev",
            "-d",
            "groups=customers",
            "-d",
            "users=outsider",
        ],
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        get_as(&depot, "guarded/", Some(("ci", "S3cret-pass!word"))).await,
        403
    );
    // a mistake is named, in Pulp's shape
    let (s, v) = curl(
        &depot,
        "POST",
        &format!("{g}remove_role/"),
        &[
            "-d",
            "role=core.rbaccontentguard_downloader",
            "-d",
            "groups=stackhpc-dev",
        ],
    );
    assert_eq!(s, 400);
    assert_eq!(
        v,
        json!({"non_field_errors": ["The role is not assigned to group 'stackhpc-dev'."]})
    );
    let (s, v) = curl(
        &depot,
        "POST",
        &format!("{g}add_role/"),
        &[
            "-d",
            "role=core.rbaccontentguard_downloader",
            "-d",
            "groups=nobody",
        ],
    );
    assert_eq!(s, 400);
    assert_eq!(
        v,
        json!({"groups": ["Object with name=nobody does not exist."]})
    );

    // deletes carry a form content type and no body
    let form = ["-H", "Content-Type: application/x-www-form-urlencoded"];
    let (s, _) = curl(&depot, "DELETE", &g, &form);
    assert_eq!(s, 204);
    let (s, _) = curl(
        &depot,
        "DELETE",
        &format!("{}users/{}/", href(&group), ci["id"]),
        &[],
    );
    assert_eq!(s, 204);
    let (s, _) = curl(&depot, "DELETE", &href(&group), &form);
    assert_eq!(s, 204);
    let (s, _) = curl(&depot, "DELETE", &href(&outsider), &form);
    assert_eq!(s, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_remote_in_json_form_and_multipart() {
    let depot = DepotServer::start(BIN).await;
    let url = "http://127.0.0.1:9/PULP_MANIFEST";
    let (s, by_json) = curl(
        &depot,
        "POST",
        "remotes/file/file/",
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            &json!({
                "name": "json",
                "url": url,
                "policy": "on_demand",
                "tls_validation": false,
                "download_concurrency": 3,
                "total_timeout": 2.5,
                "max_retries": null,
                "pulp_labels": {"train": "dev"},
                "headers": [{"X-Train": "yes"}],
            })
            .to_string(),
        ],
    );
    assert_eq!(s, 201, "{by_json}");
    // Ansible / squeezer style: booleans as False, labels as JSON text, null as empty
    let (s, by_form) = curl(
        &depot,
        "POST",
        "remotes/file/file/",
        &[
            "-d",
            "name=form",
            "--data-urlencode",
            &format!("url={url}"),
            "-d",
            "policy=on_demand",
            "-d",
            "tls_validation=False",
            "-d",
            "download_concurrency=3",
            "-d",
            "total_timeout=2.5",
            "-d",
            "max_retries=",
            "--data-urlencode",
            r#"pulp_labels={"train":"dev"}"#,
            "--data-urlencode",
            r#"headers=[{"X-Train":"yes"}]"#,
        ],
    );
    assert_eq!(s, 201, "{by_form}");
    // pulp-glue style multipart: booleans as true/false, objects as JSON text
    let (s, by_multipart) = curl(
        &depot,
        "POST",
        "remotes/file/file/",
        &[
            "-F",
            "name=multipart",
            "-F",
            &format!("url={url}"),
            "-F",
            "policy=on_demand",
            "-F",
            "tls_validation=false",
            "-F",
            "download_concurrency=3",
            "-F",
            "total_timeout=2.5",
            "-F",
            r#"pulp_labels={"train":"dev"}"#,
            "-F",
            r#"headers=[{"X-Train":"yes"}]"#,
        ],
    );
    assert_eq!(s, 201, "{by_multipart}");
    let strip = |v: &Value| {
        let mut m = v.as_object().unwrap().clone();
        for k in [
            "name",
            "pulp_href",
            "prn",
            "pulp_created",
            "pulp_last_updated",
        ] {
            m.remove(k);
        }
        Value::Object(m)
    };
    assert_eq!(strip(&by_json), strip(&by_form));
    assert_eq!(strip(&by_json), strip(&by_multipart));
    assert_eq!(by_form["tls_validation"], false);
    assert_eq!(by_form["pulp_labels"], json!({"train": "dev"}));

    // a form PATCH leaves what it does not name alone (DRF <= 3.17 would wipe the labels)
    let (s, v) = curl(
        &depot,
        "PATCH",
        &href(&by_form),
        &["-d", "policy=immediate"],
    );
    assert_eq!(s, 202, "{v}");
    depot.wait_task(v["task"].as_str().unwrap()).await;
    let after = depot.get(&href(&by_form)).await;
    assert_eq!(after["policy"], "immediate");
    assert_eq!(after["pulp_labels"], json!({"train": "dev"}));

    // wrong values are refused naming the field, whatever the encoding
    let (s, v) = curl(
        &depot,
        "POST",
        "remotes/file/file/",
        &[
            "-d",
            "name=bad",
            "-d",
            "url=http://127.0.0.1:9/x",
            "-d",
            "download_concurrency=many",
            "-d",
            "tls_validation=maybe",
        ],
    );
    assert_eq!(s, 400);
    assert_eq!(
        v["download_concurrency"],
        json!(["A valid integer is required."])
    );
    assert_eq!(v["tls_validation"], json!(["Must be a valid boolean."]));
}
