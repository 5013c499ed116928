//! Reading the small XML bodies S3 answers with (error codes, bucket
//! versioning, object lock configuration).

/// The text of the first `<tag>…</tag>` in a small XML body.
pub(crate) fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&close)? + start;
    Some(body[start..end].trim().to_string())
}
