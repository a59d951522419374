//! The scenario's network: nodes (`[nodes.NAME]` or a list of names), the
//! channels declared, and the channels a `topology` generates.

use super::fields::{Fields, R};
use super::source::{tv_span_of_key, Source, Tv, TvKind};
use crate::options::XpayMode;
use crate::scenario::model::*;
use std::ops::Range;

/// `topology = "line" | "triangle" | "star"` over the nodes in declaration
/// order: a line joins each node to the next; a triangle is three nodes
/// joined in a ring one way round (first → second → third → first); a star
/// joins the first node to every other. Each channel's `from` is the node
/// that opens and funds it (the setup's `Network::open_channels`), as
/// scenarios/README.md documents.
pub fn topology_channels(kind: &str, nodes: &[NodeDecl]) -> Result<Vec<ChannelDecl>, String> {
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let pairs: Vec<(&str, &str)> = match kind {
        "line" if names.len() >= 2 => names.windows(2).map(|w| (w[0], w[1])).collect(),
        "triangle" if names.len() == 3 => vec![
            (names[0], names[1]),
            (names[1], names[2]),
            (names[2], names[0]),
        ],
        "star" if names.len() >= 2 => names[1..].iter().map(|n| (names[0], *n)).collect(),
        "line" | "star" => {
            return Err(format!(
                "a {kind} needs at least two nodes, found {}",
                names.len()
            ))
        }
        "triangle" => {
            return Err(format!(
                "a triangle needs exactly three nodes, found {}",
                names.len()
            ))
        }
        other => {
            return Err(format!(
                "unknown topology `{other}`; expected \"line\", \"triangle\" or \"star\""
            ))
        }
    };
    Ok(pairs
        .into_iter()
        .map(|(from, to)| ChannelDecl {
            location: Location::default(),
            from: from.into(),
            to: to.into(),
            amount_sat: 1_000_000,
            announce: true,
            push_msat: 0,
        })
        .collect())
}

pub(super) fn parse_node(src: &Source, name: &str, kspan: &Range<usize>, tv: &Tv) -> R<NodeDecl> {
    let mut f = Fields::new(src, tv, format!("node `{name}`"))?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(src.error(
            kspan,
            Some(name),
            "node names are letters, digits, `-` and `_`",
        ));
    }
    let role = f.opt_string("role")?.unwrap_or_else(|| "candidate".into());
    let developer = f.opt_bool("developer")?.unwrap_or(true);
    let reconnect = f.opt_bool("reconnect")?.unwrap_or(false);
    let splicing = f.opt_bool("splicing")?.unwrap_or(false);
    let zero_conf = f.opt_bool("zero_conf")?.unwrap_or(false);
    let hold_htlcs_msat = f.opt_u64("hold_htlcs_msat")?;
    let xpay = match f.take("xpay") {
        None => XpayMode::Default,
        Some(v) => match &v.kind {
            TvKind::Str(s) => XpayMode::parse(s)
                .ok_or_else(|| f.err(&v, "xpay", "expected \"on\", \"off\" or \"default\""))?,
            _ => return Err(f.err(&v, "xpay", "expected \"on\", \"off\" or \"default\"")),
        },
    };
    let db = db_backend(&mut f)?;
    // Options always carry a value (`--key=value`), booleans included:
    // lightningd options such as `xpay-handle-pay` take `true`/`false`.
    // Options without a value are listed in `flags`, so that nothing
    // decides from a value's type whether `=value` is sent.
    let mut options = Vec::new();
    if let Some(opts) = f.take("options") {
        let t = Fields::new(src, &opts, format!("node `{name}` options"))?;
        for (k, _, v) in &t.entries {
            let value = match &v.kind {
                TvKind::Bool(b) => b.to_string(),
                TvKind::Str(s) => s.clone(),
                TvKind::Int(i) => i.to_string(),
                TvKind::Float(x) => x.to_string(),
                _ => {
                    return Err(src.error(
                        &v.span,
                        Some(k),
                        "an option's value is a string, a number or a boolean (sent as `--key=value`); options that take no value go in `flags = [\"...\"]`",
                    ))
                }
            };
            options.push((k.clone(), Some(value)));
        }
    }
    let flags_span = tv_span_of_key(tv, "flags");
    for flag in f.string_list("flags")? {
        if flag.is_empty() || flag.starts_with('-') || flag.contains('=') {
            let span = flags_span.clone().unwrap_or(tv.span.clone());
            return Err(src.error(&span, Some("flags"), format!("`{flag}`: a flag is an option name without `--` and without a value, e.g. \"experimental-dual-fund\"")));
        }
        options.push((flag, None));
    }
    f.finish()?;
    Ok(NodeDecl {
        name: name.to_string(),
        role,
        developer,
        xpay,
        reconnect,
        splicing,
        zero_conf,
        hold_htlcs_msat,
        options,
        db,
    })
}

/// `db = "sqlite" | "postgres"` in a node's table or at the top.
pub(super) fn db_backend(f: &mut Fields<'_, '_>) -> R<Option<crate::options::DbBackend>> {
    match f.take("db") {
        None => Ok(None),
        Some(v) => match &v.kind {
            TvKind::Str(s) => crate::options::DbBackend::parse(s)
                .map(Some)
                .ok_or_else(|| f.err(&v, "db", "expected \"sqlite\" or \"postgres\"")),
            _ => Err(f.err(&v, "db", "expected \"sqlite\" or \"postgres\"")),
        },
    }
}

pub(super) fn parse_channel(src: &Source, tv: &Tv, n: usize) -> R<ChannelDecl> {
    let mut f = Fields::new(src, tv, format!("channel {n}"))?;
    let c = ChannelDecl {
        location: src.location(tv.span.start),
        from: f.string("from")?,
        to: f.string("to")?,
        amount_sat: f.opt_u64("amount_sat")?.unwrap_or(1_000_000),
        announce: f.opt_bool("announce")?.unwrap_or(true),
        push_msat: f.opt_u64("push_msat")?.unwrap_or(0),
    };
    f.finish()?;
    Ok(c)
}

/// `nodes`: a list of names (each with the defaults) or one table per
/// node; none means alice and bob.
pub(super) fn nodes(src: &Source, declared: Option<&Tv>) -> R<Vec<NodeDecl>> {
    let Some(tv) = declared else {
        return Ok(["alice", "bob"]
            .into_iter()
            .map(|n| NodeDecl {
                name: n.into(),
                role: "candidate".into(),
                developer: true,
                xpay: XpayMode::Default,
                reconnect: false,
                splicing: false,
                zero_conf: false,
                hold_htlcs_msat: None,
                options: vec![],
                db: None,
            })
            .collect());
    };
    let mut nodes = Vec::new();
    if let TvKind::Array(names) = &tv.kind {
        // `nodes = ["alice", "bob", "carol"]`: every node with the defaults.
        for n in names {
            let TvKind::Str(name) = &n.kind else {
                return Err(src.error(
                    &n.span,
                    Some("nodes"),
                    "expected node names, or [nodes.NAME] tables",
                ));
            };
            let empty = Tv {
                span: n.span.clone(),
                kind: TvKind::Table(vec![]),
            };
            nodes.push(parse_node(src, name, &n.span, &empty)?);
        }
    } else {
        let t = Fields::new(src, tv, "[nodes]")?;
        for (name, kspan, v) in &t.entries {
            nodes.push(parse_node(src, name, kspan, v)?);
        }
    }
    Ok(nodes)
}

/// `topology` and `channels`: a declared channel between two nodes the
/// topology joins overrides that channel (amount, push, announce); others
/// are added. Neither, without `nodes`, is the default alice → bob.
pub(super) fn channels(
    src: &Source,
    top: &mut Fields,
    nodes: &[NodeDecl],
    nodes_declared: bool,
) -> R<Vec<ChannelDecl>> {
    let topology = match top.take("topology") {
        None => None,
        Some(tv) => match &tv.kind {
            TvKind::Str(t) => {
                Some(topology_channels(t, nodes).map_err(|m| top.err(&tv, "topology", m))?)
            }
            _ => {
                return Err(top.err(
                    &tv,
                    "topology",
                    "expected \"line\", \"triangle\" or \"star\"",
                ))
            }
        },
    };
    let declared_channels = match top.take("channels") {
        Some(tv) => match &tv.kind {
            TvKind::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, c)| parse_channel(src, c, i + 1))
                    .collect::<R<Vec<_>>>()?,
            ),
            _ => {
                return Err(top.err(
                    &tv,
                    "channels",
                    "expected an array of tables ([[channels]] or channels = [{ from = ..., to = ... }])",
                ))
            }
        },
        None => None,
    };
    Ok(match (topology, declared_channels) {
        (Some(mut generated), Some(declared)) => {
            for d in declared {
                match generated.iter_mut().find(|g| {
                    (g.from == d.from && g.to == d.to) || (g.from == d.to && g.to == d.from)
                }) {
                    Some(g) => *g = d,
                    None => generated.push(d),
                }
            }
            generated
        }
        (Some(generated), None) => generated,
        (None, Some(declared)) => declared,
        (None, None) if !nodes_declared => vec![ChannelDecl {
            location: Location::default(),
            from: "alice".into(),
            to: "bob".into(),
            amount_sat: 1_000_000,
            announce: true,
            push_msat: 0,
        }],
        (None, None) => vec![],
    })
}
