//! The container registry: real skopeo against depot's `/v2/` with token auth, and the
//! protocol's edges (chunked uploads in and out of order, mounts, digest mismatches, missing
//! blobs, referrers, paging) driven over HTTP.

use std::path::Path;

use base64::Engine;
use depot_testkit::oci::{build_image, layout_digest, skopeo};
use depot_testkit::{ADMIN_PASSWORD, DepotServer, sha256_hex};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::BIN;

fn host(depot: &DepotServer) -> String {
    depot.url.trim_start_matches("http://").to_string()
}

fn admin_creds() -> String {
    format!("admin:{ADMIN_PASSWORD}")
}

/// `skopeo copy` with credentials for the depot side; panics with skopeo's output on failure.
fn copy(
    home: &Path,
    from: &str,
    to: &str,
    src_creds: Option<&str>,
    dest_creds: Option<&str>,
) -> Result<(), String> {
    let mut args = vec!["copy", "--src-tls-verify=false", "--dest-tls-verify=false"];
    if let Some(c) = src_creds {
        args.extend(["--src-creds", c]);
    }
    if let Some(c) = dest_creds {
        args.extend(["--dest-creds", c]);
    }
    args.extend([from, to]);
    let (ok, out, err) = skopeo(home, &args);
    if ok {
        Ok(())
    } else {
        Err(format!("{out}{err}"))
    }
}

/// A registry token for `scopes` (None: anonymous).
async fn token(depot: &DepotServer, scopes: &[&str], who: Option<(&str, &str)>) -> String {
    let mut url = format!("{}/token/?service={}", depot.url, host(depot));
    for s in scopes {
        url.push_str(&format!("&scope={s}"));
    }
    let mut req = depot.http().get(url);
    if let Some((u, p)) = who {
        req = req.basic_auth(u, Some(p));
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token"], v["access_token"]);
    assert_eq!(v["expires_in"], 300);
    v["token"].as_str().unwrap().to_string()
}

/// A registry request with a bearer token.
async fn reg(
    depot: &DepotServer,
    method: Method,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> reqwest::Response {
    let url = if path.starts_with("/v2/") {
        format!("{}{path}", depot.url)
    } else {
        path.to_string()
    };
    let mut req = depot.http().request(method, url).bearer_auth(token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    req.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn error_code(r: reqwest::Response) -> String {
    let v: Value = r.json().await.unwrap_or(Value::Null);
    v["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// Upload a blob in one request; returns its digest.
async fn push_blob(depot: &DepotServer, name: &str, token: &str, bytes: &[u8]) -> String {
    let d = digest_of(bytes);
    let r = reg(
        depot,
        Method::POST,
        &format!("/v2/{name}/blobs/uploads/?digest={d}"),
        token,
        &[],
        Some(bytes.to_vec()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    d
}

fn image_manifest(config: (&str, usize), layers: &[(&str, usize)]) -> Vec<u8> {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
        "layers": layers.iter().map(|(d, s)| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s})).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes()
}

async fn put_manifest(
    depot: &DepotServer,
    name: &str,
    reference: &str,
    token: &str,
    body: &[u8],
) -> reqwest::Response {
    reg(
        depot,
        Method::PUT,
        &format!("/v2/{name}/manifests/{reference}"),
        token,
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        Some(body.to_vec()),
    )
    .await
}

/// Every blob of `got` (a layout skopeo wrote) is in `want` byte for byte, and is what its
/// name says.
fn assert_blobs_from(got: &Path, want: &Path) {
    let mut n = 0;
    for e in std::fs::read_dir(got.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(e.path()).unwrap();
        assert_eq!(sha256_hex(&bytes), name);
        let theirs = std::fs::read(want.join("blobs/sha256").join(&name))
            .unwrap_or_else(|_| panic!("{name} is not in {}", want.display()));
        assert!(theirs == bytes, "{name} differs");
        n += 1;
    }
    assert!(n >= 3, "a manifest, a config and layers: {n} blobs");
}

#[tokio::test]
async fn skopeo_pushes_and_pulls_through_token_auth() {
    let depot = DepotServer::start(BIN).await;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let src = build_image(
        &tmp.path().join("src"),
        "v1",
        &[100_000, 300_000, 20_000],
        1,
    );
    let h = host(&depot);

    // anonymous clients are sent to the token service
    let r = depot
        .http()
        .get(format!("{}/v2/", depot.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&r, "www-authenticate"),
        format!("Bearer realm=\"http://{h}/token/\",service=\"{h}\"")
    );
    assert_eq!(
        header(&r, "docker-distribution-api-version"),
        "registry/2.0"
    );

    let image = format!("docker://{h}/stackhpc-dev/kolla-base:v1");
    copy(
        &home,
        &format!("oci:{}:v1", src.display()),
        &image,
        None,
        Some(&admin_creds()),
    )
    .unwrap();
    let out = tmp.path().join("out");
    copy(
        &home,
        &image,
        &format!("oci:{}:v1", out.display()),
        Some(&admin_creds()),
        None,
    )
    .unwrap();
    // the same image end to end: manifest digest and every blob byte for byte
    assert_eq!(layout_digest(&out, "v1"), layout_digest(&src, "v1"));
    assert_blobs_from(&out, &src);

    // a pushed distribution is public, as in Pulp: anonymous pulls work
    let out2 = tmp.path().join("out2");
    copy(
        &home,
        &image,
        &format!("oci:{}:v1", out2.display()),
        None,
        None,
    )
    .unwrap();
    assert_eq!(layout_digest(&out2, "v1"), layout_digest(&src, "v1"));

    // the push made a repository, a distribution, a namespace and content in Pulp's shape
    let d = depot
        .get("distributions/container/container/?name=stackhpc-dev/kolla-base")
        .await;
    assert_eq!(d["count"], 1, "{d}");
    let dist = &d["results"][0];
    assert_eq!(dist["base_path"], "stackhpc-dev/kolla-base");
    assert_eq!(dist["private"], false);
    assert!(
        dist["namespace"]
            .as_str()
            .unwrap()
            .contains("/pulp_container/namespaces/")
    );
    let repo = depot.get(dist["repository"].as_str().unwrap()).await;
    let version = depot
        .get(repo["latest_version_href"].as_str().unwrap())
        .await;
    let present = &version["content_summary"]["present"];
    assert_eq!(present["container.blob"]["count"], 4, "{version}"); // 3 layers + config
    assert_eq!(present["container.manifest"]["count"], 1);
    assert_eq!(present["container.tag"]["count"], 1);
    let tags = depot
        .get(&format!(
            "content/container/tags/?name=v1&repository_version={}",
            repo["latest_version_href"].as_str().unwrap()
        ))
        .await;
    assert_eq!(tags["count"], 1);
    let manifest = depot
        .get(tags["results"][0]["tagged_manifest"].as_str().unwrap())
        .await;
    assert_eq!(manifest["digest"], layout_digest(&src, "v1"));
    assert_eq!(
        manifest["media_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(manifest["blobs"].as_array().unwrap().len(), 3);
    assert!(manifest["config_blob"].is_string());
    assert_eq!(manifest["architecture"], "amd64");

    // container distributions are not files under /pulp/content/
    let (s, _) = depot.fetch("stackhpc-dev/kolla-base/").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // a second tag, then v1 moved to another image: tags stay unique per version
    let src2 = build_image(&tmp.path().join("src2"), "v2", &[50_000], 2);
    copy(
        &home,
        &format!("oci:{}:v2", src2.display()),
        &format!("docker://{h}/stackhpc-dev/kolla-base:v2"),
        None,
        Some(&admin_creds()),
    )
    .unwrap();
    copy(
        &home,
        &format!("oci:{}:v2", src2.display()),
        &image,
        None,
        Some(&admin_creds()),
    )
    .unwrap();
    let (ok, listed, err) = skopeo(
        &home,
        &[
            "list-tags",
            "--tls-verify=false",
            "--creds",
            &admin_creds(),
            &format!("docker://{h}/stackhpc-dev/kolla-base"),
        ],
    );
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["Tags"], json!(["v1", "v2"]));
    let (ok, raw, err) = skopeo(
        &home,
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            &admin_creds(),
            &image,
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(digest_of(raw.as_bytes()), layout_digest(&src2, "v2"));
}

#[tokio::test]
async fn uploads_refuse_what_does_not_fit_and_lose_nothing() {
    let depot = DepotServer::start(BIN).await;
    let name = "stackhpc-dev/edges";
    let t = token(
        &depot,
        &[&format!("repository:{name}:pull,push")],
        Some(("admin", ADMIN_PASSWORD)),
    )
    .await;
    let payload = depot_testkit::oci::noise(300, 7);
    let d = digest_of(&payload);

    // chunked: in order, then out of order (416, the upload stays usable), then done
    let r = reg(
        &depot,
        Method::POST,
        &format!("/v2/{name}/blobs/uploads/"),
        &t,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let loc = header(&r, "location");
    assert!(
        loc.starts_with(&format!("/v2/{name}/blobs/uploads/")),
        "{loc}"
    );
    let r = reg(
        &depot,
        Method::PATCH,
        &loc,
        &t,
        &[("Content-Range", "0-99")],
        Some(payload[..100].to_vec()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&r, "range"), "0-99");
    let r = reg(
        &depot,
        Method::PATCH,
        &loc,
        &t,
        &[("Content-Range", "200-299")],
        Some(payload[200..].to_vec()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&r, "range"), "0-99");
    let r = reg(&depot, Method::GET, &loc, &t, &[], None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "range"), "0-99");
    let r = reg(
        &depot,
        Method::PATCH,
        &loc,
        &t,
        &[("Content-Range", "100-199")],
        Some(payload[100..200].to_vec()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // the last chunk rides on the PUT
    let r = reg(
        &depot,
        Method::PUT,
        &format!("{loc}?digest={d}"),
        &t,
        &[],
        Some(payload[200..].to_vec()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    assert_eq!(header(&r, "docker-content-digest"), d);
    let r = reg(
        &depot,
        Method::HEAD,
        &format!("/v2/{name}/blobs/{d}"),
        &t,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-length"), "300");
    assert_eq!(header(&r, "docker-content-digest"), d);
    let r = reg(
        &depot,
        Method::GET,
        &format!("/v2/{name}/blobs/{d}"),
        &t,
        &[("Range", "bytes=10-19")],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &payload[10..20]);
    // a finished session is gone
    let r = reg(&depot, Method::GET, &loc, &t, &[], None).await;
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");

    // a digest that does not match stores nothing
    let other = depot_testkit::oci::noise(64, 8);
    let wrong = digest_of(b"something else");
    let r = reg(
        &depot,
        Method::POST,
        &format!("/v2/{name}/blobs/uploads/?digest={wrong}"),
        &t,
        &[],
        Some(other.clone()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    for d in [&wrong, &digest_of(&other)] {
        let r = reg(
            &depot,
            Method::HEAD,
            &format!("/v2/{name}/blobs/{d}"),
            &t,
            &[],
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    assert!(depot.temp_files().is_empty(), "{:?}", depot.temp_files());

    // a manifest must reference only what the repository holds
    let config = br#"{"architecture":"arm64","os":"linux","config":{"Labels":{"team":"kolla"}}}"#;
    let cd = push_blob(&depot, name, &t, config).await;
    let missing = digest_of(b"never pushed");
    let bad = image_manifest((&cd, config.len()), &[(&missing, 12)]);
    let r = put_manifest(&depot, name, "broken", &t, &bad).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    let r = reg(
        &depot,
        Method::GET,
        &format!("/v2/{name}/manifests/broken"),
        &t,
        &[],
        None,
    )
    .await;
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let r = put_manifest(&depot, name, "broken", &t, b"{not json").await;
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    let r = put_manifest(&depot, name, "huge", &t, &vec![b' '; 5 << 20]).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // a good one, by tag; served by tag and digest, by what the client accepts
    let good = image_manifest((&cd, config.len()), &[(&d, 300)]);
    let md = digest_of(&good);
    let r = put_manifest(&depot, name, "1.0", &t, &good).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    assert_eq!(header(&r, "docker-content-digest"), md);
    assert_eq!(header(&r, "location"), format!("/v2/{name}/manifests/{md}"));
    for reference in ["1.0", md.as_str()] {
        let r = reg(
            &depot,
            Method::GET,
            &format!("/v2/{name}/manifests/{reference}"),
            &t,
            &[],
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            header(&r, "content-type"),
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(header(&r, "docker-content-digest"), md);
        assert_eq!(r.bytes().await.unwrap().as_ref(), good.as_slice());
    }
    let r = reg(
        &depot,
        Method::HEAD,
        &format!("/v2/{name}/manifests/1.0"),
        &t,
        &[("Accept", "application/vnd.oci.image.index.v1+json")],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let m = depot
        .get(&format!("content/container/manifests/?digest={md}"))
        .await;
    assert_eq!(m["results"][0]["labels"], json!({"team": "kolla"}));
    assert_eq!(m["results"][0]["architecture"], "arm64");
    assert_eq!(m["results"][0]["compressed_image_size"], 300);

    // a manifest pushed with the wrong digest in its URL
    let r = put_manifest(&depot, name, &digest_of(b"x"), &t, &good).await;
    assert_eq!(error_code(r).await, "DIGEST_INVALID");

    // referrers: an artifact whose subject is the image
    let sbom_cfg = br#"{}"#;
    let sd = push_blob(&depot, name, &t, sbom_cfg).await;
    let sbom = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sd, "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": d, "size": 300}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": good.len()},
        "annotations": {"org.example": "sbom"}
    })
    .to_string()
    .into_bytes();
    let sbom_digest = digest_of(&sbom);
    let r = put_manifest(&depot, name, &sbom_digest, &t, &sbom).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    assert_eq!(header(&r, "oci-subject"), md);
    // referrers are of what a version holds: tag it into one
    let r = put_manifest(&depot, name, "sbom", &t, &sbom).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = reg(
        &depot,
        Method::GET,
        &format!("/v2/{name}/referrers/{md}"),
        &t,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&r, "content-type"),
        "application/vnd.oci.image.index.v1+json"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["manifests"][0]["digest"], sbom_digest);
    assert_eq!(v["manifests"][0]["artifactType"], "application/spdx+json");
    assert_eq!(v["manifests"][0]["annotations"]["org.example"], "sbom");
    let r = reg(
        &depot,
        Method::GET,
        &format!("/v2/{name}/referrers/{md}?artifactType=text/plain"),
        &t,
        &[],
        None,
    )
    .await;
    assert_eq!(header(&r, "oci-filters-applied"), "artifactType");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["manifests"], json!([]));

    // tags page with n and last, Link to the next page
    for tag in ["a", "b", "c"] {
        assert_eq!(
            put_manifest(&depot, name, tag, &t, &good).await.status(),
            StatusCode::CREATED
        );
    }
    let r = reg(
        &depot,
        Method::GET,
        &format!("/v2/{name}/tags/list?n=2"),
        &t,
        &[],
        None,
    )
    .await;
    assert_eq!(
        header(&r, "link"),
        format!("</v2/{name}/tags/list?n=2&last=a>; rel=\"next\"")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tags"], json!(["1.0", "a"]));
    let r = reg(
        &depot,
        Method::GET,
        &format!("/v2/{name}/tags/list?n=2&last=a"),
        &t,
        &[],
        None,
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["tags"], json!(["b", "c"]));
    let r = reg(
        &depot,
        Method::GET,
        &format!("/v2/{name}/tags/list"),
        &t,
        &[],
        None,
    )
    .await;
    assert_eq!(header(&r, "link"), "");
    assert_eq!(
        r.json::<Value>().await.unwrap()["tags"],
        json!(["1.0", "a", "b", "c", "sbom"])
    );

    // deleting a tag leaves the manifest under its other tags
    let r = reg(
        &depot,
        Method::DELETE,
        &format!("/v2/{name}/manifests/b"),
        &t,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = reg(
        &depot,
        Method::GET,
        &format!("/v2/{name}/manifests/b"),
        &t,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = reg(
        &depot,
        Method::GET,
        &format!("/v2/{name}/manifests/c"),
        &t,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    // mount into another name: only with pull on the source in the token
    let target = "stackhpc/edges";
    let both = token(
        &depot,
        &[
            &format!("repository:{target}:pull,push"),
            &format!("repository:{name}:pull"),
        ],
        Some(("admin", ADMIN_PASSWORD)),
    )
    .await;
    let r = reg(
        &depot,
        Method::POST,
        &format!("/v2/{target}/blobs/uploads/?mount={d}&from={name}"),
        &both,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let only_target = token(
        &depot,
        &[&format!("repository:{target}:pull,push")],
        Some(("admin", ADMIN_PASSWORD)),
    )
    .await;
    let r = reg(
        &depot,
        Method::POST,
        &format!("/v2/{target}/blobs/uploads/?mount={cd}&from={name}"),
        &only_target,
        &[],
        None,
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "no pull on the source: an ordinary upload"
    );
    let r = reg(
        &depot,
        Method::HEAD,
        &format!("/v2/{target}/blobs/{d}"),
        &both,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = reg(
        &depot,
        Method::HEAD,
        &format!("/v2/{target}/blobs/{cd}"),
        &both,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "not mounted, not pushed");
    // a manifest in the target may use the mounted blob but not the one it never got
    let r = put_manifest(&depot, target, "x", &only_target, &good).await;
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");

    // a token is for one name: another name's blobs need their own
    let r = reg(
        &depot,
        Method::GET,
        &format!("/v2/{target}/blobs/{d}"),
        &t,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        header(&r, "www-authenticate").contains(&format!("scope=\"repository:{target}:pull\""))
    );
    assert!(header(&r, "www-authenticate").contains("error=\"insufficient_scope\""));
}

async fn user(depot: &DepotServer, name: &str, password: &str) -> String {
    depot
        .create("users/", json!({"username": name, "password": password}))
        .await["pulp_href"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn namespace_prn(depot: &DepotServer, base_path: &str) -> String {
    let d = depot
        .get(&format!(
            "distributions/container/container/?base_path={base_path}"
        ))
        .await;
    let ns = d["results"][0]["namespace"].as_str().unwrap().to_string();
    let id = ns.trim_end_matches('/').rsplit('/').next().unwrap();
    format!("prn:container.containernamespace:{id}")
}

async fn make_private(depot: &DepotServer, base_path: &str) {
    let d = depot
        .get(&format!(
            "distributions/container/container/?base_path={base_path}"
        ))
        .await;
    let href = d["results"][0]["pulp_href"].as_str().unwrap().to_string();
    depot
        .run_ok(Method::PATCH, &href, Some(json!({"private": true})))
        .await;
}

#[tokio::test]
async fn builders_push_to_dev_and_customers_pull_only_releases() {
    let depot = DepotServer::start(BIN).await;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let h = host(&depot);
    let image = build_image(&tmp.path().join("img"), "t1", &[40_000, 10_000], 3);
    let oci = format!("oci:{}:t1", image.display());
    // the namespaces exist (an admin's first pushes made them) and are private
    for ns in ["stackhpc-dev", "stackhpc"] {
        copy(
            &home,
            &oci,
            &format!("docker://{h}/{ns}/seed:t1"),
            None,
            Some(&admin_creds()),
        )
        .unwrap();
        make_private(&depot, &format!("{ns}/seed")).await;
    }
    let builder = user(&depot, "builder", "builder-password").await;
    let customer = user(&depot, "customer", "customer-password").await;
    let dev = namespace_prn(&depot, "stackhpc-dev/seed").await;
    let rel = namespace_prn(&depot, "stackhpc/seed").await;
    depot
        .create(
            &format!("{builder}roles/"),
            json!({"role": "container.containernamespace_collaborator", "content_object_prn": dev}),
        )
        .await;
    depot
        .create(
            &format!("{customer}roles/"),
            json!({"role": "container.containernamespace_consumer", "content_object_prn": rel}),
        )
        .await;
    let b = "builder:builder-password";
    let c = "customer:customer-password";

    // the builder pushes a new image into stackhpc-dev, not into stackhpc
    let dev_image = format!("docker://{h}/stackhpc-dev/kolla-nova:t1");
    copy(&home, &oci, &dev_image, None, Some(b)).unwrap();
    make_private(&depot, "stackhpc-dev/kolla-nova").await;
    let refused = copy(
        &home,
        &oci,
        &format!("docker://{h}/stackhpc/kolla-nova:t1"),
        None,
        Some(b),
    );
    assert!(refused.is_err());

    // the customer may not read stackhpc-dev, nor may anybody anonymous
    let out = tmp.path().join("out");
    assert!(
        copy(
            &home,
            &dev_image,
            &format!("oci:{}:t1", out.display()),
            Some(c),
            None
        )
        .is_err()
    );
    assert!(
        copy(
            &home,
            &dev_image,
            &format!("oci:{}:t1", out.display()),
            None,
            None
        )
        .is_err()
    );
    let anon = token(&depot, &["repository:stackhpc-dev/kolla-nova:pull"], None).await;
    let r = reg(
        &depot,
        Method::GET,
        "/v2/stackhpc-dev/kolla-nova/manifests/t1",
        &anon,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        header(&r, "www-authenticate").starts_with(&format!("Bearer realm=\"http://{h}/token/\""))
    );
    // a token says what was granted, whatever was asked
    let t = token(
        &depot,
        &["repository:stackhpc-dev/kolla-nova:pull,push"],
        Some(("customer", "customer-password")),
    )
    .await;
    let claims = t.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["access"][0]["actions"], json!([]));
    assert_eq!(claims["sub"], "customer");
    // the builder may pull what it pushed
    copy(
        &home,
        &dev_image,
        &format!("oci:{}:t1", out.display()),
        Some(b),
        None,
    )
    .unwrap();

    // promotion as the release train does it: a release repository and private distribution
    // made through the API, the push repository's tags listed in its latest version and
    // added (manifests and blobs come along, no byte is copied)
    let release = depot
        .create(
            "repositories/container/container/",
            json!({"name": "stackhpc/kolla-nova"}),
        )
        .await["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    depot
        .run_ok(
            Method::POST,
            "distributions/container/container/",
            Some(
                json!({"name": "stackhpc/kolla-nova", "base_path": "stackhpc/kolla-nova",
                        "repository": release, "private": true}),
            ),
        )
        .await;
    let rel_image = format!("docker://{h}/stackhpc/kolla-nova:t1");
    assert!(
        copy(
            &home,
            &rel_image,
            &format!("oci:{}:t1", out.display()),
            Some(c),
            None
        )
        .is_err()
    );
    let push_repo = depot
        .get("distributions/container/container/?base_path=stackhpc-dev/kolla-nova")
        .await["results"][0]["repository"]
        .as_str()
        .unwrap()
        .to_string();
    let latest = depot.get(&push_repo).await["latest_version_href"]
        .as_str()
        .unwrap()
        .to_string();
    let tags = depot
        .get(&format!(
            "content/container/tags/?name__in=t1,t9&repository_version={latest}"
        ))
        .await;
    assert_eq!(tags["count"], 1, "{tags}");
    let hrefs: Vec<Value> = tags["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["pulp_href"].clone())
        .collect();
    let blobs_before = depot.get("artifacts/").await["count"].clone();
    depot
        .run_ok(
            Method::POST,
            &format!("{release}add/"),
            Some(json!({"content_units": hrefs})),
        )
        .await;
    assert_eq!(
        depot.get("artifacts/").await["count"],
        blobs_before,
        "no byte copied"
    );
    let got = tmp.path().join("got");
    copy(
        &home,
        &rel_image,
        &format!("oci:{}:t1", got.display()),
        Some(c),
        None,
    )
    .unwrap();
    assert_eq!(layout_digest(&got, "t1"), layout_digest(&image, "t1"));
    assert_blobs_from(&got, &image);

    // copy_tags, tag and untag: the other ways tags move
    let copy_repo = depot
        .create(
            "repositories/container/container/",
            json!({"name": "stackhpc/kolla-nova-copy"}),
        )
        .await["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    depot
        .run_ok(
            Method::POST,
            &format!("{copy_repo}copy_tags/"),
            Some(json!({"source_repository_version": latest, "names": ["t1"]})),
        )
        .await;
    let v = depot.get(&format!("{copy_repo}versions/1/")).await;
    assert_eq!(
        v["content_summary"]["present"]["container.tag"]["count"], 1,
        "{v}"
    );
    assert_eq!(
        v["content_summary"]["present"]["container.blob"]["count"], 3,
        "{v}"
    ); // 2 layers + config
    let digest = layout_digest(&image, "t1");
    depot
        .run_ok(
            Method::POST,
            &format!("{release}tag/"),
            Some(json!({"tag": "2024.1", "digest": digest})),
        )
        .await;
    let (ok, listed, err) = skopeo(
        &home,
        &[
            "list-tags",
            "--tls-verify=false",
            "--creds",
            c,
            "docker://HOST/stackhpc/kolla-nova"
                .replace("HOST", &h)
                .as_str(),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&listed).unwrap()["Tags"],
        json!(["2024.1", "t1"])
    );
    depot
        .run_ok(
            Method::POST,
            &format!("{release}untag/"),
            Some(json!({"tag": "t1"})),
        )
        .await;
    assert!(
        copy(
            &home,
            &rel_image,
            &format!("oci:{}:t1", tmp.path().join("gone").display()),
            Some(c),
            None
        )
        .is_err()
    );
    let (s, v) = depot
        .call(
            Method::POST,
            &format!("{release}tag/"),
            Some(&json!({"tag": "x", "digest": digest_of(b"none")})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // the customer may not promote
    let r = depot
        .http()
        .post(depot.api(&format!("{release}add/")))
        .basic_auth("customer", Some("customer-password"))
        .json(&json!({"content_units": []}))
        .send()
        .await
        .unwrap();
    assert!(
        r.status() == StatusCode::FORBIDDEN || r.status() == StatusCode::NOT_FOUND,
        "{}",
        r.status()
    );

    // the catalog shows the customer what it may pull, and nothing of stackhpc-dev
    let t = token(
        &depot,
        &["registry:catalog:*"],
        Some(("customer", "customer-password")),
    )
    .await;
    let r = reg(&depot, Method::GET, "/v2/_catalog", &t, &[], None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["repositories"],
        json!(["stackhpc/kolla-nova", "stackhpc/seed"])
    );
    let anon = token(&depot, &["registry:catalog:*"], None).await;
    let r = reg(&depot, Method::GET, "/v2/_catalog", &anon, &[], None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // wrong passwords get no token at all
    let r = depot
        .http()
        .get(format!(
            "{}/token/?service={h}&scope=repository:stackhpc/seed:pull",
            depot.url
        ))
        .basic_auth("customer", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_push_killed_midway_leaves_nothing_and_can_be_retried() {
    let mut depot = DepotServer::start(BIN).await;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let name = "stackhpc-dev/killed";
    let t = token(
        &depot,
        &[&format!("repository:{name}:pull,push")],
        Some(("admin", ADMIN_PASSWORD)),
    )
    .await;
    let r = reg(
        &depot,
        Method::POST,
        &format!("/v2/{name}/blobs/uploads/"),
        &t,
        &[],
        None,
    )
    .await;
    let loc = header(&r, "location");
    let part = depot_testkit::oci::noise(1 << 20, 9);
    let r = reg(
        &depot,
        Method::PATCH,
        &loc,
        &t,
        &[("Content-Range", "0-1048575")],
        Some(part),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(
        !depot.temp_files().is_empty(),
        "the session's bytes are in a temporary file"
    );
    depot.restart().await;
    assert!(depot.temp_files().is_empty(), "{:?}", depot.temp_files());
    // the session is gone (not half-visible); the token outlives the process
    let r = reg(&depot, Method::GET, &loc, &t, &[], None).await;
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    let image = build_image(&tmp.path().join("img"), "v1", &[1 << 20], 9);
    copy(
        &home,
        &format!("oci:{}:v1", image.display()),
        &format!("docker://{}/{name}:v1", host(&depot)),
        None,
        Some(&admin_creds()),
    )
    .unwrap();
    let out = tmp.path().join("out");
    copy(
        &home,
        &format!("docker://{}/{name}:v1", host(&depot)),
        &format!("oci:{}:v1", out.display()),
        None,
        None,
    )
    .unwrap();
    assert_blobs_from(&out, &image);
}

#[tokio::test]
async fn basic_auth_mode_takes_credentials_on_v2() {
    let tmp = tempfile::tempdir().unwrap();
    let depot =
        DepotServer::start_in(BIN, &tmp.path().join("data"), &["--registry-basic-auth"]).await;
    let home = tmp.path().join("home");
    let r = depot
        .http()
        .get(format!("{}/v2/", depot.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&r, "www-authenticate").starts_with("Basic "));
    let r = depot
        .http()
        .get(format!("{}/v2/", depot.url))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let image = build_image(&tmp.path().join("img"), "v1", &[10_000], 4);
    let target = format!("docker://{}/basic/img:v1", host(&depot));
    copy(
        &home,
        &format!("oci:{}:v1", image.display()),
        &target,
        None,
        Some(&admin_creds()),
    )
    .unwrap();
    assert!(
        copy(
            &home,
            &format!("oci:{}:v1", image.display()),
            &format!("docker://{}/basic/other:v1", host(&depot)),
            None,
            None
        )
        .is_err()
    );
    let out = tmp.path().join("out");
    copy(
        &home,
        &target,
        &format!("oci:{}:v1", out.display()),
        None,
        None,
    )
    .unwrap();
    assert_eq!(layout_digest(&out, "v1"), layout_digest(&image, "v1"));
}

/// podman with its own storage (vfs) and runtime directories.
fn podman(home: &Path, args: &[&str]) -> Result<String, String> {
    let podman = depot_testkit::tools::require("podman", "DEPOT_PODMAN");
    let auth = home.join("auth.json");
    if !auth.exists() {
        std::fs::write(&auth, "{}").expect("auth file");
    }
    let out = std::process::Command::new(podman)
        .arg("--root")
        .arg(home.join("root"))
        .arg("--runroot")
        .arg(home.join("run"))
        .args(["--storage-driver", "vfs"])
        .args(args)
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home)
        .env("REGISTRY_AUTH_FILE", home.join("auth.json"))
        .output()
        .expect("run podman");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[tokio::test]
async fn podman_pushes_and_pulls_in_plain_http_and_over_tls() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key, ca) = crate::lifecycle::test_certificates(tmp.path());
    let plain = DepotServer::start_in(BIN, &tmp.path().join("plain"), &[]).await;
    let tls = DepotServer::start_in(
        BIN,
        &tmp.path().join("tls"),
        &["--tls-cert", &cert, "--tls-key", &key],
    )
    .await;
    assert!(tls.url.starts_with("https://"));
    // podman names an image pulled from a layout after its path, which must be lower case
    let lower = std::env::temp_dir().join(format!(
        "depot-podman-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let image = build_image(&lower.join("img"), "v1", &[200_000, 30_000], 5);
    let home = tmp.path().join("podman");
    std::fs::create_dir_all(&home).unwrap();
    let id = podman(&home, &["pull", &format!("oci:{}:v1", image.display())]).unwrap();
    let id = id.lines().last().unwrap().to_string();
    // podman trusts the CA from a certificate directory
    let certs = tmp.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&ca, certs.join("ca.crt")).unwrap();
    let certs = certs.to_str().unwrap().to_string();
    for (depot, tls_args) in [
        (&plain, vec!["--tls-verify=false".to_string()]),
        (&tls, vec![format!("--cert-dir={certs}")]),
    ] {
        let h = depot.url.split("://").nth(1).unwrap().to_string();
        let reference = format!("{h}/podman/kolla-keystone:v1");
        let mut login = vec!["login", "-u", "admin", "-p", ADMIN_PASSWORD];
        login.extend(tls_args.iter().map(String::as_str));
        login.push(&h);
        podman(&home, &login).unwrap();
        let mut push = vec!["push"];
        push.extend(tls_args.iter().map(String::as_str));
        push.extend([id.as_str(), reference.as_str()]);
        podman(&home, &push).unwrap();
        // pulled into an empty store: the same image
        let other = tmp
            .path()
            .join(format!("podman-{}", h.replace([':', '.'], "-")));
        std::fs::create_dir_all(&other).unwrap();
        let mut pull = vec!["pull"];
        pull.extend(tls_args.iter().map(String::as_str));
        pull.push(&reference);
        let pulled = podman(&other, &pull).unwrap();
        assert_eq!(pulled.lines().last().unwrap(), id, "{pulled}");
        let digest = podman(
            &other,
            &["image", "inspect", "--format", "{{.Digest}}", &reference],
        )
        .unwrap();
        assert!(digest.starts_with("sha256:"), "{digest}");
    }
    let _ = std::fs::remove_dir_all(&lower);
}

/// Push raw bytes as a blob to an unauthenticated registry.
async fn push_plain_blob(http: &reqwest::Client, host: &str, name: &str, bytes: &[u8]) -> String {
    let d = digest_of(bytes);
    let r = http
        .post(format!("http://{host}/v2/{name}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let loc = header(&r, "location");
    let loc = if loc.starts_with("http") {
        loc
    } else {
        format!("http://{host}{loc}")
    };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = http
        .put(format!("{loc}{sep}digest={d}"))
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    d
}

/// A two-platform OCI index pushed as `tag` to an unauthenticated registry; returns its digest.
async fn push_index(host: &str, name: &str, tag: &str) -> String {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut entries = Vec::new();
    for (i, arch) in ["amd64", "arm64"].iter().enumerate() {
        let config = json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).to_string();
        let layer = depot_testkit::oci::noise(50_000 + i, 40 + i as u64);
        let cd = push_plain_blob(&http, host, name, config.as_bytes()).await;
        let ld = push_plain_blob(&http, host, name, &layer).await;
        let m = image_manifest((&cd, config.len()), &[(&ld, layer.len())]);
        let md = digest_of(&m);
        let r = http
            .put(format!("http://{host}/v2/{name}/manifests/{md}"))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(m.clone())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        entries.push(
            json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
                            "size": m.len(), "platform": {"architecture": arch, "os": "linux"}}),
        );
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})
        .to_string()
        .into_bytes();
    let r = http
        .put(format!("http://{host}/v2/{name}/manifests/{tag}"))
        .header("Content-Type", "application/vnd.oci.image.index.v1+json")
        .body(index.clone())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    digest_of(&index)
}

#[tokio::test]
async fn syncs_from_a_distribution_registry_on_demand_with_tag_filters() {
    let upstream = depot_testkit::oci::DistributionRegistry::start().await;
    let depot = DepotServer::start(BIN).await;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let up = &upstream.host;
    let layout = tmp.path().join("src");
    let tags = [
        "2024.1-rocky-9-a",
        "2024.1-rocky-9-b",
        "2024.1-rocky-9-old",
        "2023.1-rocky-9-a",
    ];
    for (i, tag) in tags.iter().enumerate() {
        build_image(&layout, tag, &[30_000 + i * 1000, 5_000], 10 + i as u64);
        copy(
            &home,
            &format!("oci:{}:{tag}", layout.display()),
            &format!("docker://{up}/kolla/base:{tag}"),
            None,
            None,
        )
        .unwrap();
    }
    let index_digest = push_index(up, "kolla/base", "2024.1-multi").await;

    let remote = depot
        .create(
            "remotes/container/container/",
            json!({"name": "kolla-base", "url": format!("http://{up}"), "upstream_name": "kolla/base",
                   "include_tags": ["2024.1-*"], "exclude_tags": ["*-old"], "policy": "on_demand"}),
        )
        .await;
    assert!(remote.get("include_tags").is_none(), "write-only: {remote}");
    let repo = depot
        .create(
            "repositories/container/container/",
            json!({"name": "mirror/kolla-base", "remote": remote["pulp_href"]}),
        )
        .await["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let t = depot
        .run_task(Method::POST, &format!("{repo}sync/"), Some(json!({})))
        .await;
    assert_eq!(t["state"], "completed", "{t}");
    let v = depot.get(&format!("{repo}versions/1/")).await;
    let present = &v["content_summary"]["present"];
    assert_eq!(present["container.tag"]["count"], 3, "{v}"); // a, b, multi
    assert_eq!(present["container.manifest"]["count"], 5, "{v}"); // a, b, the index and its two
    depot
        .run_ok(
            Method::POST,
            "distributions/container/container/",
            Some(json!({"name": "mirror/kolla-base", "base_path": "mirror/kolla-base", "repository": repo})),
        )
        .await;
    let h = host(&depot);
    let (ok, listed, err) = skopeo(
        &home,
        &[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{h}/mirror/kolla-base"),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&listed).unwrap()["Tags"],
        json!(["2024.1-multi", "2024.1-rocky-9-a", "2024.1-rocky-9-b"])
    );

    // on_demand: blobs arrive with the first pull, verified, byte for byte
    let before = depot.get("artifacts/").await["count"].as_i64().unwrap();
    let out = tmp.path().join("out");
    copy(
        &home,
        &format!("docker://{h}/mirror/kolla-base:2024.1-rocky-9-a"),
        &format!("oci:{}:a", out.display()),
        None,
        None,
    )
    .unwrap();
    assert_eq!(
        layout_digest(&out, "a"),
        layout_digest(&layout, "2024.1-rocky-9-a")
    );
    assert_blobs_from(&out, &layout);
    let after = depot.get("artifacts/").await["count"].as_i64().unwrap();
    assert!(
        after > before,
        "the pull stored the blobs it fetched ({before} -> {after})"
    );
    // every platform of the index
    let (ok, _, err) = skopeo(
        &home,
        &[
            "copy",
            "--all",
            "--src-tls-verify=false",
            &format!("docker://{h}/mirror/kolla-base:2024.1-multi"),
            &format!("oci:{}:multi", out.display()),
        ],
    );
    assert!(ok, "{err}");
    let (ok, raw, err) = skopeo(
        &home,
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{h}/mirror/kolla-base:2024.1-multi"),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        digest_of(raw.as_bytes()),
        index_digest,
        "the index as upstream has it"
    );
    // excluded and not included tags are not there
    let r = depot
        .http()
        .get(format!(
            "{}/v2/mirror/kolla-base/manifests/2023.1-rocky-9-a",
            depot.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "token first");
    let t = token(&depot, &["repository:mirror/kolla-base:pull"], None).await;
    for tag in ["2023.1-rocky-9-a", "2024.1-rocky-9-old"] {
        let r = reg(
            &depot,
            Method::GET,
            &format!("/v2/mirror/kolla-base/manifests/{tag}"),
            &t,
            &[],
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{tag}");
    }

    // nothing changed upstream: no new version
    let t = depot
        .run_task(Method::POST, &format!("{repo}sync/"), Some(json!({})))
        .await;
    assert_eq!(t["state"], "completed", "{t}");
    assert!(
        depot.get(&repo).await["latest_version_href"]
            .as_str()
            .unwrap()
            .ends_with("/versions/1/")
    );
    // mirror: a tag gone upstream goes here too
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .delete(format!(
            "http://{up}/v2/kolla/base/manifests/{}",
            layout_digest(&layout, "2024.1-rocky-9-b")
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let t = depot
        .run_task(
            Method::POST,
            &format!("{repo}sync/"),
            Some(json!({"mirror": true})),
        )
        .await;
    assert_eq!(t["state"], "completed", "{t}");
    let v = depot.get(&format!("{repo}versions/2/")).await;
    assert_eq!(
        v["content_summary"]["present"]["container.tag"]["count"], 2,
        "{v}"
    );
}
