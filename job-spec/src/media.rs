//! Media references (`https://…`, `s3://bucket/key`, `r2://key`, loopback `http://` in
//! local development), object keys, output paths and filenames.
//!
//! These checks run in the edge before anything is presigned and again in the worker;
//! the worker additionally guards every connection (resolve, refuse private ranges).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::problem::Problems;

/// Longest object key we accept (S3 allows 1024 bytes).
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest output filename.
pub const MAX_FILENAME_BYTES: usize = 255;
/// Longest URL we accept in a request.
pub const MAX_URL_BYTES: usize = 4096;

/// Where an input comes from, once parsed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaRef {
    /// A URL the worker downloads directly (https, or loopback http in local development).
    Url(String),
    /// An object key in the tenant's space, presigned by the edge.
    Object { key: String },
}

/// What the caller's environment allows; the edge fills it from its configuration.
#[derive(Debug, Clone, Default)]
pub struct RefContext {
    /// Local development only: accept `http://` URLs whose host is loopback.
    pub allow_loopback_http: bool,
    /// The configured bucket; `s3://other-bucket/…` is refused.
    pub bucket: Option<String>,
    /// The tenant's key prefix. A key that starts with it is taken as it is; any other key
    /// is relative to it (`r2://in/a.jpg` is `<prefix>in/a.jpg`), as the seed's users write
    /// keys without a tenant prefix.
    pub tenant_prefix: Option<String>,
    /// The other tenants' prefixes: a key starting with one of them is refused
    /// (`key-outside-tenant`) rather than read as relative, so a request naming another
    /// tenant's object gets a clear error, never that object.
    pub other_prefixes: Vec<String>,
}

/// Parses and checks one media reference, pushing problems under `field`.
pub fn check_media_ref(p: &mut Problems, field: &str, raw: &str, ctx: &RefContext) -> Option<MediaRef> {
    match parse_media_ref(raw, ctx) {
        Ok(r) => Some(r),
        Err((code, msg)) => {
            p.push(field, code, msg);
            None
        }
    }
}

/// Parses a media reference; the error is `(code, message)`.
pub fn parse_media_ref(raw: &str, ctx: &RefContext) -> Result<MediaRef, (&'static str, String)> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(("required", "must not be empty".into()));
    }
    if raw.len() > MAX_URL_BYTES {
        return Err(("too-long", format!("must be at most {MAX_URL_BYTES} bytes")));
    }
    if let Some(rest) = raw.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/').ok_or(("invalid-object-ref", "expected s3://bucket/key".to_owned()))?;
        if let Some(expected) = &ctx.bucket
            && bucket != expected
        {
            return Err(("foreign-bucket", format!("bucket `{bucket}` is not this service's bucket")));
        }
        return object_ref(key, ctx);
    }
    if let Some(key) = raw.strip_prefix("r2://") {
        return object_ref(key, ctx);
    }
    let url = url::Url::parse(raw).map_err(|e| ("invalid-url", format!("not a URL: {e}")))?;
    check_fetch_url(&url, ctx.allow_loopback_http)?;
    Ok(MediaRef::Url(url.into()))
}

fn object_ref(key: &str, ctx: &RefContext) -> Result<MediaRef, (&'static str, String)> {
    check_key(key).map_err(|(c, m)| (c, m.to_owned()))?;
    let Some(prefix) = &ctx.tenant_prefix else { return Ok(MediaRef::Object { key: key.to_owned() }) };
    if key.starts_with(prefix.as_str()) {
        return Ok(MediaRef::Object { key: key.to_owned() });
    }
    if ctx.other_prefixes.iter().any(|other| !other.is_empty() && key.starts_with(other.as_str())) {
        return Err(("key-outside-tenant", format!("`{key}` is in another tenant's space; keys are relative to `{prefix}`")));
    }
    let full = format!("{prefix}{key}");
    check_key(&full).map_err(|(c, m)| (c, m.to_owned()))?;
    Ok(MediaRef::Object { key: full })
}

/// A URL the worker (or the webhook sender) may connect to: https to a host name or a
/// public IP literal; loopback http only when `allow_loopback_http`.
pub fn check_fetch_url(url: &url::Url, allow_loopback_http: bool) -> Result<(), (&'static str, String)> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(("credentials-in-url", "URLs must not carry user:password".into()));
    }
    let host = url.host().ok_or(("invalid-url", "URL has no host".to_owned()))?;
    let ip = match host {
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") { Some(IpAddr::V4(Ipv4Addr::LOCALHOST)) } else { None }
        }
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
    };
    let loopback = ip.is_some_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback_http && loopback => return Ok(()),
        "http" if allow_loopback_http => {
            return Err(("insecure-url", "http:// is accepted for loopback hosts only".into()));
        }
        "http" => return Err(("insecure-url", "only https:// URLs are accepted".into())),
        other => return Err(("unsupported-scheme", format!("scheme `{other}` is not supported"))),
    }
    if let Some(ip) = ip
        && !is_public_ip(ip)
        && !(allow_loopback_http && loopback)
    {
        return Err(("private-address", format!("{ip} is not a public address")));
    }
    Ok(())
}

/// True for addresses on the public internet. Refuses loopback, private, link-local,
/// CGNAT, the cloud metadata addresses (169.254.169.254, Azure's 168.63.129.16),
/// documentation, multicast, IPv6 ULA, IPv4-compatible and NAT64 forms of any of those,
/// and whole the IPv6 ranges whose traffic a relay or translator turns into IPv4 the
/// check cannot see: IPv4-mapped `::ffff:0:0/96` and translated `::ffff:0:0:0/96`,
/// 6to4 `2002::/16`, Teredo `2001::/32` and local-use NAT64 `64:ff9b:1::/48`.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, includes the metadata address
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || ip == AZURE_WIRESERVER
        || a >= 240)
}

/// Azure's host endpoint (wireserver: metadata, extension configuration), reachable
/// from every VM without being private.
const AZURE_WIRESERVER: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    // Mapped (::ffff:a.b.c.d) and SIIT-translated (::ffff:0:a.b.c.d) addresses reach IPv4
    // through the host's stack or a translator; 6to4 (2002::/16) and Teredo (2001::/32)
    // through a relay that decodes an IPv4 address from bits the caller chose; local-use
    // NAT64 (64:ff9b:1::/48) through a translator of the operator's. None is a name a
    // public service needs, so the whole ranges are refused.
    if seg[..6] == [0, 0, 0, 0, 0, 0xffff]
        || seg[..6] == [0, 0, 0, 0, 0xffff, 0]
        || seg[0] == 0x2002
        || (seg[0] == 0x2001 && seg[1] == 0)
        || seg[..3] == [0x64, 0xff9b, 1]
    {
        return false;
    }
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) embed a v4 address.
    if seg[..6] == [0, 0, 0, 0, 0, 0] || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = Ipv4Addr::new((seg[6] >> 8) as u8, seg[6] as u8, (seg[7] >> 8) as u8, seg[7] as u8);
        return !ip.is_unspecified() && !ip.is_loopback() && is_public_v4(v4);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00 // ULA fc00::/7
        || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (seg[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (seg[0] == 0x2001 && seg[1] == 0x0db8)) // documentation
}

/// An object key: relative, no `.`/`..` or empty segments, no backslash, no control
/// characters, at most [`MAX_KEY_BYTES`]. Error is `(code, message)`.
pub fn check_key(key: &str) -> Result<(), (&'static str, &'static str)> {
    if key.is_empty() {
        return Err(("required", "object key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(("too-long", "object key must be at most 1024 bytes"));
    }
    check_segments(key, true)
}

/// An output `path` (a folder under the tenant's prefix). Empty is allowed.
pub fn check_path(path: &str) -> Result<(), (&'static str, &'static str)> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() { Ok(()) } else { Err(("absolute-path", "path must be relative")) };
    }
    if trimmed.len() > MAX_KEY_BYTES / 2 {
        return Err(("too-long", "path must be at most 512 bytes"));
    }
    no_percent(trimmed)?;
    check_segments(trimmed, false)
}

/// An output filename: one segment, no separators or control characters.
pub fn check_filename(name: &str) -> Result<(), (&'static str, &'static str)> {
    if name.is_empty() {
        return Err(("required", "filename must not be empty"));
    }
    if name.len() > MAX_FILENAME_BYTES {
        return Err(("too-long", "filename must be at most 255 bytes"));
    }
    if name.contains(['/', '\\']) {
        return Err(("invalid-filename", "filename must not contain / or \\"));
    }
    no_percent(name)?;
    check_segments(name, false)
}

/// Output paths and filenames we name ourselves refuse `%`: a key holding `%2e%2e` is
/// one URL decode away from `..` (input keys, naming objects that exist, allow it).
fn no_percent(s: &str) -> Result<(), (&'static str, &'static str)> {
    if s.contains('%') {
        return Err(("invalid-character", "must not contain %"));
    }
    Ok(())
}

fn check_segments(s: &str, allow_trailing_slash: bool) -> Result<(), (&'static str, &'static str)> {
    if s.chars().any(char::is_control) {
        return Err(("control-character", "must not contain control characters"));
    }
    if s.starts_with('/') {
        return Err(("absolute-path", "must be relative (no leading /)"));
    }
    if s.contains('\\') {
        return Err(("invalid-character", "must not contain \\"));
    }
    let body = if allow_trailing_slash { s.strip_suffix('/').unwrap_or(s) } else { s };
    for seg in body.split('/') {
        match seg {
            ".." => return Err(("path-traversal", "must not contain `..` segments")),
            "." => return Err(("invalid-path", "must not contain `.` segments")),
            "" => return Err(("invalid-path", "must not contain empty segments (//)")),
            _ => {}
        }
    }
    Ok(())
}

/// The extension of a filename, lower-cased, without the dot.
pub fn extension(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// The Content-Type stored with an object, from its name's extension.
pub fn content_type_for(name: &str) -> &'static str {
    match extension(name).as_deref() {
        Some("mp4" | "m4v") => "video/mp4",
        Some("mov") => "video/quicktime",
        Some("mkv") => "video/x-matroska",
        Some("webm") => "video/webm",
        Some("mp3") => "audio/mpeg",
        Some("m4a") => "audio/mp4",
        Some("aac") => "audio/aac",
        Some("wav") => "audio/wav",
        Some("ogg") => "audio/ogg",
        Some("opus") => "audio/opus",
        Some("flac") => "audio/flac",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("json") => "application/json",
        Some("srt") => "application/x-subrip",
        Some("ass") => "text/x-ssa",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RefContext {
        RefContext {
            allow_loopback_http: false,
            bucket: Some("media".into()),
            tenant_prefix: Some("tenants/acme/".into()),
            other_prefixes: vec!["tenants/other/".into(), "tenants/acme-2/".into()],
        }
    }

    #[test]
    fn keys_without_the_prefix_are_relative_to_it() {
        let c = ctx();
        let key = |s: &str| match parse_media_ref(s, &c) {
            Ok(MediaRef::Object { key }) => key,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(key("r2://in/a.jpg"), "tenants/acme/in/a.jpg");
        assert_eq!(key("s3://media/pipelines/job-123/inputs/audio/master.m4a"), "tenants/acme/pipelines/job-123/inputs/audio/master.m4a");
        // Keys that already start with the prefix are unchanged.
        assert_eq!(key("r2://tenants/acme/in/a.jpg"), "tenants/acme/in/a.jpg");
        // Another tenant's keys stay refused; a prefix that merely shares a beginning is
        // another tenant's too.
        assert_eq!(parse_media_ref("r2://tenants/other/a.jpg", &c).unwrap_err().0, "key-outside-tenant");
        assert_eq!(parse_media_ref("s3://media/tenants/acme-2/a.jpg", &c).unwrap_err().0, "key-outside-tenant");
        // The joined key is checked like any key.
        assert_eq!(parse_media_ref(&format!("r2://{}", "k".repeat(1020)), &c).unwrap_err().0, "too-long");
    }

    #[test]
    fn parses_each_reference_form() {
        let c = ctx();
        assert_eq!(parse_media_ref("https://cdn.example.com/a.jpg", &c), Ok(MediaRef::Url("https://cdn.example.com/a.jpg".into())));
        assert_eq!(parse_media_ref("s3://media/tenants/acme/in/a.jpg", &c), Ok(MediaRef::Object { key: "tenants/acme/in/a.jpg".into() }));
        assert_eq!(parse_media_ref("r2://tenants/acme/in/a.jpg", &c), Ok(MediaRef::Object { key: "tenants/acme/in/a.jpg".into() }));
    }

    #[test]
    fn refuses_with_stable_codes() {
        let c = ctx();
        let code = |s: &str| parse_media_ref(s, &c).unwrap_err().0;
        assert_eq!(code(""), "required");
        assert_eq!(code("ftp://x/y"), "unsupported-scheme");
        assert_eq!(code("http://cdn.example.com/a.jpg"), "insecure-url");
        assert_eq!(code("http://127.0.0.1:9000/a.jpg"), "insecure-url");
        assert_eq!(code("https://127.0.0.1/a.jpg"), "private-address");
        assert_eq!(code("https://169.254.169.254/latest/meta-data"), "private-address");
        assert_eq!(code("https://[::ffff:10.0.0.1]/x"), "private-address");
        assert_eq!(code("https://[fd00::1]/x"), "private-address");
        assert_eq!(code("https://localhost/x"), "private-address");
        assert_eq!(code("https://user:pw@cdn.example.com/x"), "credentials-in-url");
        assert_eq!(code("s3://other/tenants/acme/a.jpg"), "foreign-bucket");
        assert_eq!(code("s3://media"), "invalid-object-ref");
        assert_eq!(code("r2://tenants/other/a.jpg"), "key-outside-tenant");
        assert_eq!(code("r2://in/../../x.jpg"), "path-traversal");
        assert_eq!(code("r2://tenants/acme/../other/a.jpg"), "path-traversal");
        assert_eq!(code("r2:///etc/passwd"), "absolute-path");
        assert_eq!(code("r2://tenants/acme/a\u{0}.jpg"), "control-character");
        assert_eq!(code("not a url"), "invalid-url");
    }

    #[test]
    fn loopback_http_only_when_allowed() {
        let c = RefContext { allow_loopback_http: true, ..ctx() };
        assert!(parse_media_ref("http://127.0.0.1:9000/b/k.jpg", &c).is_ok());
        assert!(parse_media_ref("http://localhost:9000/b/k.jpg", &c).is_ok());
        assert!(parse_media_ref("http://[::1]:9000/b/k.jpg", &c).is_ok());
        assert_eq!(parse_media_ref("http://10.0.0.2/k.jpg", &c).unwrap_err().0, "insecure-url");
        assert_eq!(parse_media_ref("http://example.com/k.jpg", &c).unwrap_err().0, "insecure-url");
    }

    #[test]
    fn urls_to_tunnelled_and_metadata_addresses_are_refused() {
        let c = RefContext { allow_loopback_http: true, ..ctx() };
        for host in
            ["168.63.129.16", "[2002:a9fe:a9fe::1]", "[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "[64:ff9b:1::a00:1]", "[::ffff:0:a00:1]"]
        {
            let e = parse_media_ref(&format!("https://{host}/k.jpg"), &c).unwrap_err();
            assert_eq!(e.0, "private-address", "{host}: {e:?}");
        }
    }

    #[test]
    fn public_ip_ranges() {
        let public = ["8.8.8.8", "1.1.1.1", "168.63.129.17", "2606:4700::1111", "2001:4860:4860::8888", "2003::1", "64:ff9b::808:808"];
        let private = [
            "0.0.0.0",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::10.0.0.1",
            // Azure's wireserver.
            "168.63.129.16",
            "::ffff:168.63.129.16",
            // Whole ranges that tunnel or translate to IPv4, public-looking or not.
            "::ffff:8.8.8.8",
            "::ffff:0:0",
            "::ffff:0:808:808",
            "::ffff:0:a00:1",
            "2002:808:808::1",
            "2002:a00:1::1",
            "2002:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001::1",
            "64:ff9b:1::808:808",
            "64:ff9b:1:ffff::1",
        ];
        for ip in public {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip} should be public");
        }
        for ip in private {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip} should be refused");
        }
    }

    #[test]
    fn keys_paths_filenames() {
        assert!(check_key("a/b/c.mp4").is_ok());
        assert!(check_key("a/b/").is_ok());
        assert_eq!(check_key("a//b").unwrap_err().0, "invalid-path");
        assert_eq!(check_key("a/./b").unwrap_err().0, "invalid-path");
        assert_eq!(check_key("a\\b").unwrap_err().0, "invalid-character");
        assert_eq!(check_key(&"k".repeat(1025)).unwrap_err().0, "too-long");
        assert!(check_path("").is_ok());
        assert!(check_path("videos/2026/").is_ok());
        assert_eq!(check_path("/").unwrap_err().0, "absolute-path");
        assert_eq!(check_path("/abs").unwrap_err().0, "absolute-path");
        assert_eq!(check_path("a/../../b").unwrap_err().0, "path-traversal");
        assert!(check_filename("final vídeo 🎬.mp4").is_ok());
        assert_eq!(check_filename("a/b.mp4").unwrap_err().0, "invalid-filename");
        assert_eq!(check_filename("..").unwrap_err().0, "path-traversal");
        assert_eq!(check_filename("a\nb.mp4").unwrap_err().0, "control-character");
    }

    #[test]
    fn output_paths_and_filenames_refuse_percent() {
        // A `%` would read as an escape wherever the key becomes a URL (`%2e%2e`).
        assert_eq!(check_path("%2e%2e/x").unwrap_err().0, "invalid-character");
        assert_eq!(check_path("a/%2F/").unwrap_err().0, "invalid-character");
        assert_eq!(check_filename("100%.mp4").unwrap_err().0, "invalid-character");
        // The seed's documented paths keep working: spaces and non-ASCII are fine.
        assert!(check_path("Project Name/Video Title/videos/").is_ok());
        assert!(check_path("Canal/Vídeo 1/imagens/").is_ok());
        // Input keys name objects that already exist: `%` stays allowed there.
        assert!(check_key("t/100%.mp4").is_ok());
        assert_eq!(extension("a.B.MP4").as_deref(), Some("mp4"));
        assert_eq!(extension(".hidden"), None);
        assert_eq!(extension("noext"), None);
        assert_eq!(content_type_for("a/b/clip.MP4"), "video/mp4");
        assert_eq!(content_type_for("x.srt"), "application/x-subrip");
        assert_eq!(content_type_for("x"), "application/octet-stream");
    }
}
