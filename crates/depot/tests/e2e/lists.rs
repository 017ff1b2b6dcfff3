//! The generic lists (`/remotes/`, `/repositories/`, `/publications/`, `/distributions/`,
//! `/content/`, `/repository_versions/`) through pulp-cli's generic commands and over HTTP:
//! every type at once, base fields only, Pulp's filters and paging, and scoped to what the
//! caller may see.

use depot_testkit::{DepotServer, tools};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{BIN, tempdir};
use crate::pulp_cli::Pulp;

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|r| {
            r["name"]
                .as_str()
                .or(r["pulp_href"].as_str())
                .unwrap()
                .to_string()
        })
        .collect();
    n.sort();
    n
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

async fn as_user(depot: &DepotServer, who: (&str, &str), path: &str) -> (StatusCode, Value) {
    let r = depot
        .http()
        .get(depot.api(path))
        .basic_auth(who.0, Some(who.1))
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_lists_over_every_type() {
    let exe = tools::require("pulp", "PULP_CLI");
    let depot = DepotServer::start(BIN).await;
    let pulp = Pulp {
        exe,
        url: depot.url.clone(),
        home: tempdir(),
    };
    let up = "http://127.0.0.1:9/";
    let file_remote = depot
        .create(
            "remotes/file/file/",
            json!({"name": "files-a", "url": format!("{up}PULP_MANIFEST"), "pulp_labels": {"env": "dev"}}),
        )
        .await;
    let rpm_remote = depot
        .create(
            "remotes/rpm/rpm/",
            json!({"name": "rpm-b", "url": up, "pulp_labels": {"env": "prod", "tier": "db"}}),
        )
        .await;
    let file_repo = depot
        .create(
            "repositories/file/file/",
            json!({"name": "files-a", "remote": file_remote["pulp_href"], "pulp_labels": {"env": "dev"}}),
        )
        .await;
    let rpm_repo = depot
        .create(
            "repositories/rpm/rpm/",
            json!({"name": "rpm-b", "pulp_labels": {"env": "prod"}}),
        )
        .await;
    let file_repo_href = file_repo["pulp_href"].as_str().unwrap().to_string();
    for (path, repo) in [
        ("publications/file/file/", &file_repo),
        ("publications/rpm/rpm/", &rpm_repo),
    ] {
        depot
            .run_ok(
                Method::POST,
                path,
                Some(json!({"repository": repo["pulp_href"]})),
            )
            .await;
    }
    for (path, name, base, repo) in [
        ("distributions/file/file/", "dist-a", "a/x", &file_repo),
        ("distributions/rpm/rpm/", "dist-b", "b", &rpm_repo),
    ] {
        depot
            .run_ok(
                Method::POST,
                path,
                Some(json!({"name": name, "base_path": base, "repository": repo["pulp_href"], "pulp_labels": {"env": "dev"}})),
            )
            .await;
    }

    // pulp-cli's generic commands
    let remotes = pulp.ok(&["remote", "list"]).await;
    assert_eq!(names(&remotes), ["files-a", "rpm-b"]);
    let rpm = remotes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "rpm-b")
        .unwrap();
    assert!(
        rpm["pulp_href"]
            .as_str()
            .unwrap()
            .starts_with("/pulp/api/v3/remotes/rpm/rpm/"),
        "typed href: {rpm}"
    );
    // base fields only: the rpm remote's own field is not shown here, as in Pulp
    assert!(rpm.get("sles_auth_token").is_none(), "{rpm}");
    assert_eq!(
        keys(rpm),
        keys(&remotes.as_array().unwrap()[0]),
        "every type renders the same fields"
    );
    assert_eq!(
        names(
            &pulp
                .ok(&["remote", "list", "--label-select", "env=prod"])
                .await
        ),
        ["rpm-b"]
    );
    assert_eq!(
        names(
            &pulp
                .ok(&["remote", "list", "--label-select", "env~DE"])
                .await
        ),
        ["files-a"]
    );
    assert_eq!(
        names(
            &pulp
                .ok(&["remote", "list", "--label-select", "!tier"])
                .await
        ),
        ["files-a"]
    );
    assert_eq!(
        names(
            &pulp
                .ok(&["remote", "list", "--label-select", "env,tier!=db"])
                .await
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            &pulp
                .ok(&["repository", "list", "--name-contains", "files"])
                .await
        ),
        ["files-a"]
    );
    assert_eq!(
        names(&pulp.ok(&["repository", "list"]).await),
        ["files-a", "rpm-b"]
    );
    let dists = pulp
        .ok(&["distribution", "list", "--base-path-contains", "a/"])
        .await;
    assert_eq!(names(&dists), ["dist-a"]);
    assert!(dists[0].get("publication").is_none(), "{dists}");
    assert_eq!(
        names(
            &pulp
                .ok(&["distribution", "list", "--label-select", "env=dev"])
                .await
        )
        .len(),
        2
    );
    let pubs = pulp.ok(&["publication", "list"]).await;
    assert_eq!(pubs.as_array().unwrap().len(), 2);
    assert_eq!(
        keys(&pubs[0]),
        [
            "prn",
            "pulp_created",
            "pulp_href",
            "pulp_last_updated",
            "repository",
            "repository_version"
        ]
    );
    let versions = pulp.ok(&["repository", "version", "list"]).await;
    assert_eq!(versions.as_array().unwrap().len(), 2, "{versions}");
    assert_eq!(pulp.ok(&["content", "list"]).await, json!([]));

    // over HTTP: types, hrefs, paging, bad values
    let v = depot.get("remotes/?pulp_type=rpm.rpm").await;
    assert_eq!(v["count"], 1);
    let v = depot
        .get("repositories/?pulp_type__in=file.file,rpm.rpm")
        .await;
    assert_eq!(v["count"], 2);
    let (s, v) = depot
        .call(Method::GET, "remotes/?pulp_type=bogus.type", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v,
        json!({"pulp_type": ["Select a valid choice. bogus.type is not one of the available choices."]})
    );
    let (s, v) = depot
        .call(Method::GET, "remotes/?pulp_label_select=env=a,", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v, json!(["Invalid search term: ''."]));
    let both = format!(
        "{},{}",
        file_remote["pulp_href"].as_str().unwrap(),
        rpm_remote["pulp_href"].as_str().unwrap()
    );
    let v = depot.get(&format!("remotes/?pulp_href__in={both}")).await;
    assert_eq!(v["count"], 2);
    let v = depot.get("distributions/?limit=1").await;
    assert_eq!(v["count"], 2);
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
    let next = v["next"].as_str().unwrap();
    assert!(
        next.contains("limit=1") && next.contains("offset=1"),
        "{next}"
    );
    let page2 = depot.get(next).await;
    assert_eq!(page2["results"].as_array().unwrap().len(), 1);
    assert_ne!(page2["results"][0]["name"], v["results"][0]["name"]);
    // a huge limit is capped, and the cap shows in the links
    let v = depot.get("distributions/?limit=100000&offset=1").await;
    let previous = v["previous"].as_str().unwrap();
    assert!(previous.contains("limit=1000"), "{previous}");

    // scoped to what a user may view: one repository through an object role
    let viewer = ("viewer", "Viewer-passw0rd!");
    let me = depot
        .create(
            "users/",
            json!({"username": viewer.0, "password": viewer.1}),
        )
        .await;
    for path in [
        "remotes/",
        "repositories/",
        "publications/",
        "distributions/",
        "repository_versions/",
        "content/",
    ] {
        let (s, v) = as_user(&depot, viewer, path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert_eq!(v["count"], 0, "{path} shows a user without roles {v}");
    }
    depot
        .create(
            &format!("{}roles/", me["pulp_href"].as_str().unwrap()),
            json!({"role": "file.filerepository_viewer", "content_object": file_repo_href}),
        )
        .await;
    let (_, v) = as_user(&depot, viewer, "repositories/").await;
    assert_eq!(v["count"], 1);
    assert_eq!(v["results"][0]["name"], "files-a");
    let (_, v) = as_user(&depot, viewer, "repository_versions/").await;
    assert_eq!(v["count"], 1);
    assert!(
        v["results"][0]["pulp_href"]
            .as_str()
            .unwrap()
            .starts_with(&file_repo_href)
    );
    let (_, v) = as_user(&depot, viewer, "remotes/").await;
    assert_eq!(v["count"], 0);
    // a model-level role shows every object of that type, and only of that type
    depot
        .create(
            &format!("{}roles/", me["pulp_href"].as_str().unwrap()),
            json!({"role": "rpm.rpmdistribution_viewer", "content_object": null}),
        )
        .await;
    let (_, v) = as_user(&depot, viewer, "distributions/").await;
    assert_eq!(names(&v["results"]), ["dist-b"]);
    let (s, _) = depot
        .http()
        .get(depot.api("remotes/"))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
