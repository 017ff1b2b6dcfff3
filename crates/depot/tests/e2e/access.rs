//! Access control: users, groups, roles, content guards — the release train's
//! development/release split, driven by pulp-cli and over HTTP, and the ways it is attacked.

use depot_testkit::{DepotServer, Upstream, tools};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{BIN, files_in, raw_get, remote, repository, sync, tempdir};

/// Create a user through the API; returns its href.
pub(crate) async fn user(depot: &DepotServer, name: &str, password: &str) -> String {
    depot
        .create("users/", json!({"username": name, "password": password}))
        .await["pulp_href"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) async fn group_with(depot: &DepotServer, name: &str, members: &[&str]) -> String {
    let g = depot.create("groups/", json!({"name": name})).await;
    let href = g["pulp_href"].as_str().unwrap().to_string();
    for m in members {
        depot
            .create(&format!("{href}users/"), json!({"username": m}))
            .await;
    }
    href
}

/// An RBAC guard whose downloader role is given to `groups`; returns its href.
pub(crate) async fn rbac_guard(depot: &DepotServer, name: &str, groups: &[&str]) -> String {
    let g = depot
        .create(
            "contentguards/core/rbac/",
            json!({"name": name, "description": format!("{name} guard")}),
        )
        .await;
    let href = g["pulp_href"].as_str().unwrap().to_string();
    let (s, v) = depot
        .call(
            Method::POST,
            &format!("{href}add_role/"),
            Some(
                &json!({"role": "core.rbaccontentguard_downloader", "users": [], "groups": groups}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    href
}

/// GET a content path as `who` (None: anonymous): status code.
pub(crate) async fn get_as(depot: &DepotServer, path: &str, who: Option<(&str, &str)>) -> u16 {
    let mut req = depot.http().get(depot.content_url(path));
    if let Some((u, p)) = who {
        req = req.basic_auth(u, Some(p));
    }
    let r = req.send().await.unwrap();
    r.status().as_u16()
}

/// A synced repository distributed at `base_path`; returns (repo href, distribution href).
async fn distributed_repo(
    depot: &DepotServer,
    upstream: &Upstream,
    name: &str,
    base_path: &str,
) -> (String, String) {
    let r = remote(depot, name, &upstream.url("PULP_MANIFEST"), json!({})).await;
    let repo = repository(depot, name, Some(&r)).await;
    assert_eq!(sync(depot, &repo, json!({})).await["state"], "completed");
    let t = depot
        .run_ok(
            Method::POST,
            "distributions/file/file/",
            Some(json!({"name": name, "base_path": base_path, "repository": repo})),
        )
        .await;
    (
        repo,
        t["created_resources"][0].as_str().unwrap().to_string(),
    )
}

async fn set_guard(depot: &DepotServer, dist: &str, guard: Value) {
    let (s, v) = depot
        .call(Method::PATCH, dist, Some(&json!({"content_guard": guard})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let t = depot.wait_task(v["task"].as_str().unwrap()).await;
    assert_eq!(t["state"], "completed", "{t}");
}

const CI: (&str, &str) = ("ci-bot", "ci-bot-password");
const CUSTOMER: (&str, &str) = ("customer", "customer-password");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_train_development_and_release_guards() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let files = files_in(dir.path(), 3, 100, 1000, 31);
    let upstream = Upstream::start(dir.path()).await;
    user(&depot, CI.0, CI.1).await;
    user(&depot, CUSTOMER.0, CUSTOMER.1).await;
    group_with(&depot, "stackhpc-dev", &[CI.0]).await;
    group_with(&depot, "stackhpc", &[CUSTOMER.0]).await;
    let development = rbac_guard(&depot, "development", &["stackhpc-dev"]).await;
    let release = rbac_guard(&depot, "release", &["stackhpc", "stackhpc-dev"]).await;

    let guard = depot.get(&development).await;
    assert_eq!(guard["groups"][0]["name"], "stackhpc-dev", "{guard}");

    let (_, dist) = distributed_repo(
        &depot,
        &upstream,
        "rocky-9-baseos",
        "rocky/9/baseos/20240105T044843",
    )
    .await;
    set_guard(&depot, &dist, json!(development)).await;
    let path = format!("rocky/9/baseos/20240105T044843/{}", files[0].relative_path);
    assert_eq!(get_as(&depot, &path, Some(CI)).await, 200);
    assert_eq!(get_as(&depot, &path, None).await, 401);
    assert_eq!(get_as(&depot, &path, Some(CUSTOMER)).await, 403);

    // promotion: the guard changes, nothing else
    set_guard(&depot, &dist, json!(release)).await;
    assert_eq!(get_as(&depot, &path, Some(CI)).await, 200);
    assert_eq!(get_as(&depot, &path, Some(CUSTOMER)).await, 200);
    assert_eq!(get_as(&depot, &path, None).await, 401);

    // and the guard can be cleared
    set_guard(&depot, &dist, json!("")).await;
    assert_eq!(get_as(&depot, &path, None).await, 200);
    assert!(depot.get(&dist).await["content_guard"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_reveal_nothing_to_the_unauthorised() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let files = files_in(dir.path(), 3, 100, 1000, 32);
    let upstream = Upstream::start(dir.path()).await;
    user(&depot, CI.0, CI.1).await;
    user(&depot, CUSTOMER.0, CUSTOMER.1).await;
    group_with(&depot, "stackhpc-dev", &[CI.0]).await;
    let development = rbac_guard(&depot, "development", &["stackhpc-dev"]).await;
    let (_, dist) = distributed_repo(&depot, &upstream, "secret", "snapshots/secret").await;
    set_guard(&depot, &dist, json!(development)).await;
    let (_, _open) = distributed_repo(&depot, &upstream, "open", "snapshots/open").await;

    // the same answers whether a path exists or not, and no listing
    for who in [None, Some(CUSTOMER)] {
        let want = if who.is_none() { 401 } else { 403 };
        for path in [
            format!("snapshots/secret/{}", files[0].relative_path),
            "snapshots/secret/no/such/file".to_string(),
            "snapshots/secret/".to_string(),
        ] {
            let mut req = depot.http().get(depot.content_url(&path));
            if let Some((u, p)) = who {
                req = req.basic_auth(u, Some(p));
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status().as_u16(), want, "{path} as {who:?}");
            assert!(
                r.headers()
                    .get("content-length")
                    .map(|v| v.to_str().unwrap().parse::<usize>().unwrap() < 100)
                    .unwrap_or(true)
            );
            let body = r.text().await.unwrap();
            assert!(
                !body.contains("file-") && !body.contains("Index of"),
                "{path}: {body}"
            );
        }
    }
    // a 401 asks for credentials
    let r = depot
        .http()
        .get(depot.content_url("snapshots/secret/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"content\"");
    // path tricks are refused before anything is looked up (sent raw: HTTP clients
    // normalise these before sending)
    for bad in [
        "snapshots/secret/../open/",
        "snapshots/secret/%2e%2e/open/",
        "snapshots/open/..%2fsecret/",
        "snapshots/open/%2e%2e/secret/",
    ] {
        let (status, body) = raw_get(&depot.url, &format!("/pulp/content/{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(!body.contains("file-"), "{bad} leaked: {body}");
    }
    // a listing above the guarded distribution does not show it
    let (s, page) = depot.fetch("snapshots/").await;
    assert_eq!(s, 200);
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("open/") && !page.contains("secret"), "{page}");
    let (_, root) = depot.fetch("").await;
    assert!(!String::from_utf8(root).unwrap().contains("secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_checked_on_every_request() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let files = files_in(dir.path(), 1, 100, 100, 33);
    let upstream = Upstream::start(dir.path()).await;
    let ci = user(&depot, CI.0, CI.1).await;
    group_with(&depot, "stackhpc-dev", &[CI.0]).await;
    let guard = rbac_guard(&depot, "development", &["stackhpc-dev"]).await;
    let (_, dist) = distributed_repo(&depot, &upstream, "r", "guarded").await;
    set_guard(&depot, &dist, json!(guard)).await;
    let path = format!("guarded/{}", files[0].relative_path);

    // wrong password, unknown user
    assert_eq!(
        get_as(&depot, &path, Some((CI.0, "not-the-password"))).await,
        401
    );
    assert_eq!(
        get_as(&depot, &path, Some(("nobody", "whatever-pass"))).await,
        401
    );
    // a client that keeps connecting: its cached credentials stop working the moment the
    // password changes
    for _ in 0..5 {
        assert_eq!(get_as(&depot, &path, Some(CI)).await, 200);
    }
    let (s, v) = depot
        .call(
            Method::PATCH,
            &ci,
            Some(&json!({"password": "a-brand-new-password"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(get_as(&depot, &path, Some(CI)).await, 401);
    assert_eq!(
        get_as(&depot, &path, Some((CI.0, "a-brand-new-password"))).await,
        200
    );
    // deactivation takes effect at once too, on the API as well
    let (s, _) = depot
        .call(Method::PATCH, &ci, Some(&json!({"is_active": false})))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        get_as(&depot, &path, Some((CI.0, "a-brand-new-password"))).await,
        401
    );
    let r = depot.http().get(depot.api("status/")).send().await.unwrap();
    assert_eq!(r.status(), 200, "status stays anonymous");
    // leaving the group ends access
    let (s, _) = depot
        .call(Method::PATCH, &ci, Some(&json!({"is_active": true})))
        .await;
    assert_eq!(s, StatusCode::OK);
    let groups = depot.get("groups/?name=stackhpc-dev").await;
    let g = groups["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let uid = ci.trim_end_matches('/').rsplit('/').next().unwrap();
    let (s, _) = depot
        .call(Method::DELETE, &format!("{g}users/{uid}/"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        get_as(&depot, &path, Some((CI.0, "a-brand-new-password"))).await,
        403
    );
}

/// API calls as a non-superuser.
async fn call_as(
    depot: &DepotServer,
    who: (&str, &str),
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = depot
        .http()
        .request(method, depot.api(path))
        .basic_auth(who.0, Some(who.1));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_what_non_superusers_may_do() {
    let depot = DepotServer::start(BIN).await;
    let me = user(&depot, CI.0, CI.1).await;
    user(&depot, CUSTOMER.0, CUSTOMER.1).await;
    let guard = rbac_guard(&depot, "development", &[]).await;
    let up = "http://127.0.0.1:9/PULP_MANIFEST";
    let visible = repository(&depot, "visible", None).await;
    repository(&depot, "hidden", None).await;

    // nothing without roles
    let (s, v) = call_as(
        &depot,
        CI,
        Method::POST,
        "remotes/file/file/",
        Some(json!({"name": "r", "url": up})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = call_as(&depot, CI, Method::GET, "repositories/file/file/", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["count"], 0, "{v}");
    for path in ["users/", "artifacts/", "roles/"] {
        let (s, _) = call_as(&depot, CI, Method::GET, path, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }

    // a non-superuser cannot grant itself anything
    let (s, _) = call_as(
        &depot,
        CI,
        Method::POST,
        &format!("{me}roles/"),
        Some(json!({"role": "file.fileremote_creator", "content_object": null})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call_as(
        &depot,
        CI,
        Method::POST,
        &format!("{guard}add_role/"),
        Some(json!({"role": "core.rbaccontentguard_downloader", "users": [CI.0], "groups": []})),
    )
    .await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
        "{s}"
    );
    assert_eq!(depot.get(&guard).await["users"], json!([]));

    // an object role shows one repository and nothing else
    let (s, v) = depot
        .call(
            Method::POST,
            &format!("{me}roles/"),
            Some(&json!({"role": "file.filerepository_viewer", "content_object": visible})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, v) = call_as(&depot, CI, Method::GET, "repositories/file/file/", None).await;
    assert_eq!(v["count"], 1);
    assert_eq!(v["results"][0]["name"], "visible");
    let (s, _) = call_as(&depot, CI, Method::GET, &visible, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call_as(
        &depot,
        CI,
        Method::PATCH,
        &visible,
        Some(json!({"description": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "viewing is not changing");
    let (s, _) = call_as(&depot, CI, Method::DELETE, &visible, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // a model-level creator role lets it create remotes, which it then owns
    let (s, v) = depot
        .call(
            Method::POST,
            &format!("{me}roles/"),
            Some(&json!({"role": "file.fileremote_creator", "content_object": null})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = call_as(
        &depot,
        CI,
        Method::POST,
        "remotes/file/file/",
        Some(json!({"name": "mine", "url": up})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let mine = v["pulp_href"].as_str().unwrap().to_string();
    let (s, _) = call_as(&depot, CI, Method::GET, &mine, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = call_as(
        &depot,
        CI,
        Method::GET,
        &format!("{mine}my_permissions/"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        v["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("file.change_fileremote")),
        "{v}"
    );
    // ... but not the customer's
    let (s, _) = call_as(&depot, CUSTOMER, Method::GET, &mine, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = depot
        .call(Method::GET, &format!("{mine}list_roles/"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["roles"][0]["role"], "file.fileremote_owner", "{v}");
    assert_eq!(v["roles"][0]["users"], json!([CI.0]));

    // locked roles stay as they are
    let role = depot
        .get("roles/?name=core.rbaccontentguard_downloader")
        .await;
    let href = role["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = depot
        .call(
            Method::PATCH,
            &href,
            Some(&json!({"description": "mine now"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["detail"], "The role is locked.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_and_composite_guards() {
    use base64::Engine;
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let files = files_in(dir.path(), 1, 100, 100, 34);
    let upstream = Upstream::start(dir.path()).await;
    user(&depot, CI.0, CI.1).await;
    let header = depot
        .create(
            "contentguards/core/header/",
            json!({"name": "token", "header_name": "x-site-token", "header_value": "let-me-in"}),
        )
        .await["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let rbac = rbac_guard(&depot, "people", &[]).await;
    depot
        .call(
            Method::POST,
            &format!("{rbac}add_role/"),
            Some(
                &json!({"role": "core.rbaccontentguard_downloader", "users": [CI.0], "groups": []}),
            ),
        )
        .await;
    let either = depot
        .create(
            "contentguards/core/composite/",
            json!({"name": "either", "guards": [header, rbac]}),
        )
        .await["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, dist) = distributed_repo(&depot, &upstream, "r", "site").await;
    let path = format!("site/{}", files[0].relative_path);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let with_header = |value: String| {
        depot
            .http()
            .get(depot.content_url(&path))
            .header("x-site-token", value)
            .send()
    };

    set_guard(&depot, &dist, json!(header)).await;
    assert_eq!(with_header(b64("let-me-in")).await.unwrap().status(), 200);
    assert_eq!(with_header(b64("nope")).await.unwrap().status(), 403);
    assert_eq!(
        with_header("not base64!".into()).await.unwrap().status(),
        403
    );

    set_guard(&depot, &dist, json!(either)).await;
    assert_eq!(with_header(b64("let-me-in")).await.unwrap().status(), 200);
    assert_eq!(get_as(&depot, &path, Some(CI)).await, 200);
    assert_eq!(
        get_as(&depot, &path, None).await,
        401,
        "the RBAC member asks for credentials"
    );

    let listed = depot.get("contentguards/").await;
    assert_eq!(listed["count"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulp_cli_user_group_and_guard_commands() {
    let exe = tools::require("pulp", "PULP_CLI");
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let files = files_in(dir.path(), 2, 100, 1000, 35);
    let upstream = Upstream::start(dir.path()).await;
    let home = tempdir();
    let pulp = |args: Vec<String>| {
        let (exe, url, home) = (exe.clone(), depot.url.clone(), home.path().to_path_buf());
        async move {
            let shown = args.join(" ");
            let (ok, out, err) = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                tools::pulp(&exe, &url, &home, &refs)
            })
            .await
            .unwrap();
            assert!(ok, "`pulp {shown}` failed\n{out}\n{err}");
            out
        }
    };
    let a = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
    pulp(a(&format!(
        "user create --username {} --password {}",
        CI.0, CI.1
    )))
    .await;
    pulp(a("group create --name stackhpc-dev")).await;
    pulp(a(&format!(
        "group user add --group stackhpc-dev --username {}",
        CI.0
    )))
    .await;
    pulp(a(
        "content-guard rbac create --name development --description dev",
    ))
    .await;
    pulp(a(
        "content-guard rbac assign --name development --group stackhpc-dev",
    ))
    .await;
    let guard: Value =
        serde_json::from_str(&pulp(a("content-guard rbac show --name development")).await).unwrap();
    assert_eq!(guard["groups"][0]["name"], "stackhpc-dev", "{guard}");

    pulp(a(&format!(
        "file remote create --name r --url {}",
        upstream.url("PULP_MANIFEST")
    )))
    .await;
    pulp(a("file repository create --name repo --remote r")).await;
    pulp(a("file repository sync --name repo")).await;
    pulp(a(
        "file distribution create --name d --base-path guarded/d --repository repo",
    ))
    .await;
    pulp(a(
        "file distribution update --name d --content-guard core:rbac:development",
    ))
    .await;
    let path = format!("guarded/d/{}", files[0].relative_path);
    assert_eq!(get_as(&depot, &path, None).await, 401);
    assert_eq!(get_as(&depot, &path, Some(CI)).await, 200);
    let users: Value =
        serde_json::from_str(&pulp(a("group user list --group stackhpc-dev")).await).unwrap();
    assert_eq!(users[0]["username"], CI.0);
    pulp(vec![
        "file".into(),
        "distribution".into(),
        "update".into(),
        "--name".into(),
        "d".into(),
        "--content-guard".into(),
        "".into(),
    ])
    .await;
    assert_eq!(get_as(&depot, &path, None).await, 200);
    pulp(a(
        "content-guard rbac remove --name development --group stackhpc-dev",
    ))
    .await;
    let guard: Value =
        serde_json::from_str(&pulp(a("content-guard rbac show --name development")).await).unwrap();
    assert_eq!(guard["groups"], json!([]));
    let roles = pulp(a("role list --name-startswith core.rbaccontentguard")).await;
    assert!(roles.contains("core.rbaccontentguard_downloader"));
}

/// An upload request as `who`: (status, JSON).
async fn upload_call(
    depot: &DepotServer,
    who: (&str, &str),
    method: Method,
    path: &str,
    chunk: Option<&'static [u8]>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = depot
        .http()
        .request(method, depot.api(path))
        .basic_auth(who.0, Some(who.1));
    if let Some(bytes) = chunk {
        let part = reqwest::multipart::Part::bytes(bytes).file_name("chunk");
        req = req
            .header(
                "Content-Range",
                format!("bytes 0-{}/{}", bytes.len() - 1, bytes.len()),
            )
            .multipart(reqwest::multipart::Form::new().part("file", part));
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_belong_to_their_creator() {
    const DATA: &[u8] = b"twelve bytes";
    let depot = DepotServer::start(BIN).await;
    let alice_href = user(&depot, CI.0, CI.1).await;
    user(&depot, CUSTOMER.0, CUSTOMER.1).await;
    let size = json!({"size": DATA.len()});

    // a plain user may not create uploads (Pulp: core.upload_creator)
    let (s, v) = upload_call(
        &depot,
        CUSTOMER,
        Method::POST,
        "uploads/",
        None,
        Some(size.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    depot
        .create(
            &format!("{alice_href}roles/"),
            json!({"role": "core.upload_creator", "content_object": null}),
        )
        .await;
    let (s, up) = upload_call(
        &depot,
        CI,
        Method::POST,
        "uploads/",
        None,
        Some(size.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{up}");
    let upload = up["pulp_href"].as_str().unwrap().to_string();
    // the creator owns it
    let (s, v) = upload_call(&depot, CI, Method::PUT, &upload, Some(DATA), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = upload_call(&depot, CI, Method::GET, &upload, None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["chunks"][0]["size"], DATA.len());
    let (_, v) = upload_call(&depot, CI, Method::GET, "uploads/", None, None).await;
    assert_eq!(v["count"], 1);

    // another user learns nothing of it and can do nothing with it
    for (method, chunk, body) in [
        (Method::GET, None, None),
        (Method::PUT, Some(DATA), None),
        (Method::DELETE, None, None),
    ] {
        let (s, _) = upload_call(&depot, CUSTOMER, method.clone(), &upload, chunk, body).await;
        assert_eq!(
            s,
            StatusCode::NOT_FOUND,
            "{method} of another user's upload"
        );
    }
    let sha = depot_testkit::sha256_hex(DATA);
    let (s, _) = upload_call(
        &depot,
        CUSTOMER,
        Method::POST,
        &format!("{upload}commit/"),
        None,
        Some(json!({"sha256": sha})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, v) = upload_call(&depot, CUSTOMER, Method::GET, "uploads/", None, None).await;
    assert_eq!(v["count"], 0, "lists are scoped: {v}");
    // nor turn it into content, even with the right to add to a repository of its own
    let repo = depot
        .create("repositories/file/file/", json!({"name": "theirs"}))
        .await["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let customer_href =
        depot.get(&format!("users/?username={}", CUSTOMER.0)).await["results"][0]["pulp_href"]
            .as_str()
            .unwrap()
            .to_string();
    depot
        .create(
            &format!("{customer_href}roles/"),
            json!({"role": "file.filerepository_owner", "content_object": repo}),
        )
        .await;
    let r = depot
        .http()
        .post(depot.api("content/file/files/"))
        .basic_auth(CUSTOMER.0, Some(CUSTOMER.1))
        .form(&[
            ("upload", upload.as_str()),
            ("relative_path", "stolen.bin"),
            ("repository", repo.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"upload": ["Invalid hyperlink - Object does not exist."]})
    );
    // the upload is untouched, and the superuser sees it
    assert_eq!(depot.get("uploads/").await["count"], 1);

    // its owner finishes it
    let (s, v) = upload_call(
        &depot,
        CI,
        Method::POST,
        &format!("{upload}commit/"),
        None,
        Some(json!({"sha256": sha})),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let t = depot.wait_task(v["task"].as_str().unwrap()).await;
    assert_eq!(t["state"], "completed", "{t}");
    let artifact = t["created_resources"][0].as_str().unwrap();
    assert_eq!(depot.get(artifact).await["sha256"], sha);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_cost_little_and_slow_nobody_else() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let files = files_in(dir.path(), 2, 100, 1000, 33);
    let upstream = Upstream::start(dir.path()).await;
    user(&depot, CI.0, CI.1).await;
    group_with(&depot, "stackhpc-dev", &[CI.0]).await;
    let guard = rbac_guard(&depot, "development", &["stackhpc-dev"]).await;
    let (_, dist) = distributed_repo(&depot, &upstream, "guarded", "snap/guarded").await;
    set_guard(&depot, &dist, json!(guard)).await;
    distributed_repo(&depot, &upstream, "open", "snap/open").await;
    let guarded = format!("snap/guarded/{}", files[0].relative_path);
    let open = format!("snap/open/{}", files[0].relative_path);

    // where nothing is guarded, credentials are not even looked at
    for auth in ["Basic !!!not-base64", "Basic YWRtaW46d3Jvbmc=", "Bearer x"] {
        let r = depot
            .http()
            .get(depot.content_url(&open))
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{auth}");
    }
    // the CI user reads once, so its credentials are known
    assert_eq!(get_as(&depot, &guarded, Some(CI)).await, 200);

    // a flood of wrong passwords, for unknown users and for the CI user
    let flood: Vec<_> = (0..160)
        .map(|i| {
            let http = depot.http().clone();
            let url = depot.content_url(&guarded);
            tokio::spawn(async move {
                let who = if i % 2 == 0 {
                    format!("nobody-{i}")
                } else {
                    CI.0.to_string()
                };
                http.get(url)
                    .basic_auth(who, Some(format!("wrong-{i}")))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    // meanwhile the CI user and anonymous readers of the open path are served
    for _ in 0..20 {
        assert_eq!(get_as(&depot, &guarded, Some(CI)).await, 200);
        assert_eq!(get_as(&depot, &open, None).await, 200);
    }
    let mut answers = std::collections::BTreeMap::new();
    for f in flood {
        *answers.entry(f.await.unwrap()).or_insert(0) += 1;
    }
    assert!(
        answers.keys().all(|s| *s == 401 || *s == 429),
        "wrong passwords answered {answers:?}"
    );
    assert!(
        answers.get(&429).copied().unwrap_or(0) > 0,
        "more password checks than the bound were queued: {answers:?}"
    );
    // the same wrong password again is refused from memory, as are attempts on a user that
    // failed too often; the CI user's known credentials keep working
    assert_eq!(get_as(&depot, &guarded, Some((CI.0, "wrong-1"))).await, 401);
    assert_eq!(get_as(&depot, &guarded, Some(CI)).await, 200);
    assert!(
        depot
            .log_text()
            .contains("further attempts for this user are refused unchecked"),
        "the throttle is logged"
    );
    // and the API answers 429 the same way rather than queueing without bound
    let r = depot
        .http()
        .get(depot.api("status/"))
        .basic_auth("nobody", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "anonymous operations check no password");
}
