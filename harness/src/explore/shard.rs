//! `explore --shard K/N`: which runs of a seed's space this exploration
//! takes, so N machines explore disjoint programs and `explore merge` puts
//! their findings together.

/// One of `of` disjoint slices of the run indices (`--shard K/N`, 1-based
/// `index`), so N machines explore N different parts of one seed's space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u64,
    pub of: u64,
}

impl Shard {
    /// `2/4`: shard 2 of 4.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {s:?}: expected K/N with 1 <= K <= N, e.g. 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, of) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || of == 0 || index > of {
            return Err(bad());
        }
        Ok(Shard { index, of })
    }

    /// Run index `i` of this shard (its `i`-th run), as an index into the
    /// whole seed space.
    pub fn run_index(shard: Option<Shard>, i: u64) -> u64 {
        match shard {
            Some(s) => i * s.of + (s.index - 1),
            None => i,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_run_indices_without_overlap() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, of: 4 }));
        for bad in ["0/4", "5/4", "1", "a/b", "1/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let mut seen = std::collections::BTreeSet::new();
        for k in 1..=3 {
            let s = Some(Shard { index: k, of: 3 });
            for i in 0..10 {
                assert!(seen.insert(Shard::run_index(s, i)));
            }
        }
        assert_eq!(seen, (0..30).collect());
        assert_eq!(Shard::run_index(None, 7), 7);
    }
}
