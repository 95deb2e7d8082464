use super::*;

#[test]
fn repo_config_parses_and_matches_defaults_where_silent() {
    let text = include_str!("../../config.toml");
    let config = Config::from_toml(text).unwrap();
    assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.workers, Count::Auto);
    assert_eq!(config.threads_per_trial, Count::Auto);
}

#[test]
fn unknown_keys_and_bad_values_are_rejected() {
    assert!(Config::from_toml("listn = \"x\"").is_err());
    // No local workers: remote ones only.
    assert_eq!(
        Config::from_toml("workers = 0").unwrap().packing().workers,
        0
    );
    assert!(Config::from_toml("max_checkpoint_bytes = 10").is_err());
    // The blob store: named, defaulting by engine; a folder on PostgreSQL
    // needs the folder every replica mounts.
    let pg = "database = \"postgres://h/db\"\n";
    assert_eq!(
        Config::from_toml("").unwrap().blob_place(),
        BlobPlace::Folder
    );
    assert_eq!(
        Config::from_toml(pg).unwrap().blob_place(),
        BlobPlace::Database
    );
    let folder = Config::from_toml(&format!("{pg}blob_store = \"folder\"")).unwrap_err();
    assert!(folder.to_string().contains("checkpoint_dir"), "{folder}");
    let shared = format!("{pg}blob_store = \"folder\"\ncheckpoint_dir = \"/mnt/shared\"");
    assert_eq!(
        Config::from_toml(&shared).unwrap().blob_place(),
        BlobPlace::Folder
    );
    assert!(Config::from_toml("blob_store = \"s3\"").is_err());
    let c = Config::from_toml(
        "workers = 3\n[limits]\nmax_parameters = 10\nmax_epochs = 2\nmax_trials = 4",
    )
    .unwrap();
    assert_eq!(c.workers, Count::Fixed(3));
    for bad in [
        "workers = -1",
        "workers = \"many\"",
        "threads_per_trial = 0",
        "workers = 1.5",
    ] {
        assert!(Config::from_toml(bad).is_err(), "{bad}");
    }
    let error = Config::from_toml("workers = \"all\"")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("auto") && error.contains("workers"),
        "{error}"
    );
    assert_eq!(c.limits.max_epochs, 2);
    // A misspelt limit is an error, not a silent default.
    let typo = Config::from_toml("[limits]\nmax_epoch = 2").unwrap_err();
    assert!(typo.to_string().contains("max_epoch"), "{typo}");
    let zero = Config::from_toml("[limits]\nmax_nesting = 0").unwrap_err();
    assert!(zero.to_string().contains("limits.max_nesting"), "{zero}");
}

#[test]
fn auto_fills_the_cores() {
    let packing = |w: &str, t: &str, cores| {
        let c = Config::from_toml(&format!("workers = {w}\nthreads_per_trial = {t}")).unwrap();
        let p = c.packing_for(cores);
        (p.workers, p.threads_per_trial)
    };
    assert_eq!(packing("\"auto\"", "\"auto\"", 2), (2, 1));
    assert_eq!(packing("\"auto\"", "\"auto\"", 16), (16, 1));
    assert_eq!(packing("\"auto\"", "4", 16), (4, 4));
    assert_eq!(packing("\"auto\"", "4", 2), (1, 4));
    assert_eq!(packing("3", "\"auto\"", 16), (3, 5));
    assert_eq!(packing("32", "\"auto\"", 16), (32, 1));
    assert_eq!(packing("2", "2", 16), (2, 2));
    assert_eq!(
        Config::default().packing_for(0),
        Packing {
            workers: 1,
            threads_per_trial: 1
        }
    );
    // Workers get their settings as JSON: `auto` and numbers round-trip.
    let c = Config {
        workers: Count::Fixed(3),
        ..Config::default()
    };
    let back: Config = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(
        (back.workers, back.threads_per_trial),
        (Count::Fixed(3), Count::Auto)
    );
}

#[test]
fn short_or_odd_tokens_are_rejected() {
    assert!(Config::from_toml("api_token = \"\"").is_err());
    let short = Config::from_toml("api_token = \"0123456789abcde\"").unwrap_err();
    assert!(short.to_string().contains("at least 16"), "{short}");
    assert!(Config::from_toml("api_token = \"0123456789 abcdef\"").is_err());
    assert!(Config::from_toml("api_token = \"0123456789abcde;\"").is_err());
    let c = Config::from_toml("api_token = \"0123456789abcdef\"").unwrap();
    assert!(c.api_token.unwrap().matches(b"0123456789abcdef"));
}

#[test]
fn tokens_never_show_and_compare_exactly() {
    let token = ApiToken::new("s3cret-s3cret-s3cret").unwrap();
    let config = Config {
        api_token: Some(token.clone()),
        ..Config::default()
    };
    assert!(!format!("{config:?}").contains("s3cret"));
    assert!(!serde_json::to_string(&config).unwrap().contains("s3cret"));
    assert!(token.matches(b"s3cret-s3cret-s3cret"));
    assert!(!token.matches(b"s3cret-s3cret-s3creT"));
    assert!(!token.matches(b"s3cret-s3cret-s3cret-"));
    assert!(!token.matches(b""));
}

#[test]
fn only_loopback_serves_without_a_token() {
    let open = Config::default();
    assert!(open.check_exposure("127.0.0.1:80".parse().unwrap()).is_ok());
    assert!(open.check_exposure("[::1]:80".parse().unwrap()).is_ok());
    let refused = open
        .check_exposure("0.0.0.0:80".parse().unwrap())
        .unwrap_err();
    assert!(refused.to_string().contains("API token"), "{refused}");
    assert!(open.check_exposure("[::]:80".parse().unwrap()).is_err());
    assert!(open.check_exposure("10.1.2.3:80".parse().unwrap()).is_err());
    let guarded = Config {
        api_token: Some(ApiToken::new("0123456789abcdef").unwrap()),
        ..Config::default()
    };
    assert!(guarded
        .check_exposure("0.0.0.0:80".parse().unwrap())
        .is_ok());
}
