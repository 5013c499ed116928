//! ListObjectsV2 with each object's storage class, which OpenDAL's listing
//! does not carry (its `Metadata` has no storage class): what `coffer vault
//! usage` bills each object by, so that an object a bucket lifecycle rule
//! moved to another class is counted in its real one.

use coffer_core::ClassedObject;

use super::client::S3Client;
use super::encoding::encode;
use super::error::S3Error;
use super::xml::xml_tag;

/// Keys per page: S3's most.
const PAGE: u32 = 1000;
/// Pages a listing may take before it is refused as a store that never
/// ends its listing (a bucket of 100 million objects).
const MAX_PAGES: usize = 100_000;

impl S3Client {
    /// Every object below `prefix` (a vault path, `""` for the whole
    /// vault), with its size and storage class (`STANDARD` when the
    /// listing names none, as S3 means then). Paths are vault paths:
    /// the vault's prefix is taken off.
    pub async fn list_classes(&self, prefix: &str) -> Result<Vec<ClassedObject>, S3Error> {
        let root = self.key("");
        let key_prefix = self.key(prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = format!(
                "list-type=2&max-keys={PAGE}&prefix={}",
                encode(&key_prefix, false)
            );
            if let Some(t) = &token {
                query.push_str(&format!("&continuation-token={}", encode(t, false)));
            }
            let r = self
                .request(http::Method::GET, None, &query, &[], &[], "ListObjects")
                .await?;
            let body = String::from_utf8_lossy(&r.body);
            parse_page(&body, &root, &mut out);
            let truncated = xml_tag(&body, "IsTruncated").as_deref() == Some("true");
            token = xml_tag(&body, "NextContinuationToken").map(|t| unescape(&t));
            if !truncated || token.is_none() {
                return Ok(out);
            }
        }
        Err(self.err(
            "list",
            &format!("on bucket {}", self.bucket),
            None,
            "Listing",
            "the listing did not end after 100000 pages",
        ))
    }
}

/// The `<Contents>` of one ListObjectsV2 page, as vault paths below
/// `root` (the vault's key prefix); keys outside it are left out.
fn parse_page(body: &str, root: &str, out: &mut Vec<ClassedObject>) {
    let mut rest = body;
    while let Some(start) = rest.find("<Contents>") {
        let after = &rest[start + "<Contents>".len()..];
        let Some(end) = after.find("</Contents>") else {
            break;
        };
        let item = &after[..end];
        rest = &after[end..];
        let Some(key) = xml_tag(item, "Key").map(|k| unescape(&k)) else {
            continue;
        };
        let Some(path) = key.strip_prefix(root) else {
            continue;
        };
        if path.is_empty() || path.ends_with('/') {
            continue;
        }
        out.push(ClassedObject {
            path: path.to_string(),
            size: xml_tag(item, "Size")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            class: Some(
                xml_tag(item, "StorageClass")
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| "STANDARD".into()),
            ),
        });
    }
}

/// XML's five entities and numeric character references undone.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(semi) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let ent = &tail[1..semi];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_gives_vault_paths_sizes_and_classes() {
        let body = "<ListBucketResult><IsTruncated>true</IsTruncated>\
            <Contents><Key>v/config</Key><Size>155</Size></Contents>\
            <Contents><Key>v/packs/ab/ab12</Key><Size>4096</Size><StorageClass>GLACIER</StorageClass></Contents>\
            <Contents><Key>v/a&amp;b</Key><Size>1</Size><StorageClass>STANDARD_IA</StorageClass></Contents>\
            <Contents><Key>other/x</Key><Size>1</Size></Contents>\
            <NextContinuationToken>t&amp;1</NextContinuationToken></ListBucketResult>";
        let mut out = Vec::new();
        parse_page(body, "v/", &mut out);
        let got: Vec<(&str, u64, &str)> = out
            .iter()
            .map(|o| (o.path.as_str(), o.size, o.class.as_deref().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("config", 155, "STANDARD"),
                ("packs/ab/ab12", 4096, "GLACIER"),
                ("a&b", 1, "STANDARD_IA"),
            ]
        );
        assert_eq!(unescape("t&amp;1&#x41;&#66;&bogus"), "t&1AB&bogus");
    }
}
