//! TEMPORARY until evidence/ lands.
pub mod redact {
    pub struct Redactor;
    impl Redactor { pub fn with_names(_: &[(String, String)]) -> Self { Redactor } }
}
pub mod signatures {
    #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
    pub struct Signature { pub node: String, pub kind: String, pub text: String }
    pub fn extract(node: &str, text: &str, _: &super::redact::Redactor) -> Vec<Signature> {
        text.lines().filter(|l| l.contains("**BROKEN**") || l.contains("UNIQUE constraint")).map(|l| Signature { node: node.into(), kind: if l.contains("UNIQUE") {"unique_constraint".into()} else {"broken".into()}, text: l.split("UNIQUE").nth(1).map(|x| format!("UNIQUE{x}")).unwrap_or(l.to_string()) }).collect()
    }
    pub fn exit_signature(node: &str, d: &str) -> Signature { Signature { node: node.into(), kind: "exit".into(), text: d.into() } }
    pub fn broken_lines_not_whitelisted<'a>(s: &'a [Signature], w: &[regex::Regex]) -> Vec<&'a Signature> { s.iter().filter(|x| x.kind == "broken" && !w.iter().any(|r| r.is_match(&x.text))).collect() }
    pub fn first_crash(s: &[Signature]) -> Option<&Signature> { s.iter().find(|x| x.kind == "unique_constraint").or(s.first()) }
}
pub mod timeline {
    pub fn merge(i: &[(String, String)]) -> Vec<String> { i.iter().flat_map(|(n, t)| t.lines().map(move |l| format!("{n}: {l}"))).collect() }
    pub fn render(v: &[String]) -> String { v.join("\n") }
}
pub mod checkdb {
    pub fn check_db(p: &std::path::Path) -> Result<serde_json::Value, String> { crate::dbcheck_adapter::check_db_json(p).map(|x| x.1) }
    pub fn check_db_command(_: &std::path::Path, _: bool) -> i32 { 2 }
}
