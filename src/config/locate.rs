//! Finds the line of a dotted key path in block-style YAML, so semantic errors can point at
//! the line just like serde_yaml's own errors do. Flow-style YAML (`{a: 1}`) is not
//! followed; the error then carries the path without a line.

use std::fmt;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A dotted key path such as `backends[1].url`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn key(&self, k: &str) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_owned()));
        p
    }

    pub fn index(&self, i: usize) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    pub fn root(k: &str) -> KeyPath {
        KeyPath::default().key(k)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A significant line: its 1-based number, the column where `content` starts, and whether
/// it is a sequence item marker (`-`). `- key: v` is split into a marker and a key entry
/// on the same line, which is how YAML nests it.
struct Entry<'a> {
    line: usize,
    indent: usize,
    dash: bool,
    content: &'a str,
}

fn entries(text: &str) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let mut indent = raw.len() - trimmed.len();
        let mut rest = trimmed;
        while let Some(after) = rest.strip_prefix('-') {
            if !(after.is_empty() || after.starts_with(' ')) {
                break;
            }
            out.push(Entry {
                line: n + 1,
                indent,
                dash: true,
                content: "-",
            });
            let inner = after.trim_start();
            indent += rest.len() - inner.len();
            rest = inner;
        }
        if !rest.is_empty() {
            out.push(Entry {
                line: n + 1,
                indent,
                dash: false,
                content: rest,
            });
        }
    }
    out
}

fn is_key(content: &str, key: &str) -> bool {
    for quoted in [key.to_owned(), format!("\"{key}\""), format!("'{key}'")] {
        if let Some(after) = content.strip_prefix(quoted.as_str()) {
            let after = after.trim_start();
            if after == ":" || after.starts_with(": ") || after.starts_with(":\t") {
                return true;
            }
        }
    }
    false
}

/// The 1-based line where `path` is written, if it can be found.
pub fn line_of(text: &str, path: &KeyPath) -> Option<usize> {
    let all = entries(text);
    let mut pos = 0usize;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    // When the rest of the path is inside a flow collection (`{a: 1}`) on the line found
    // so far, that line is the best answer.
    let partial = |found: Option<usize>| {
        found.filter(|line| {
            all.iter()
                .any(|e| e.line == *line && e.content.contains(['{', '[']))
        })
    };
    for seg in &path.0 {
        let Some(block_indent) = all.get(pos).map(|e| e.indent) else {
            return partial(found);
        };
        if parent_indent.is_some_and(|p| block_indent <= p) && !matches!(seg, Seg::Index(_)) {
            return partial(found);
        }
        // Items of a sequence may sit at the same indent as their parent key (`a:\n- x`).
        let seeking_item = matches!(seg, Seg::Index(_));
        let in_block = |e: &Entry<'_>| {
            parent_indent.is_none_or(|p| e.indent > p || (seeking_item && e.dash && e.indent == p))
        };
        let mut hit = None;
        let mut seen_items = 0usize;
        for (i, e) in all.iter().enumerate().skip(pos) {
            if !in_block(e) {
                break;
            }
            if e.indent != block_indent {
                continue;
            }
            match seg {
                Seg::Key(k) if !e.dash && is_key(e.content, k) => {
                    hit = Some(i);
                    break;
                }
                Seg::Index(n) if e.dash => {
                    if seen_items == *n {
                        hit = Some(i);
                        break;
                    }
                    seen_items += 1;
                }
                _ => {}
            }
        }
        let Some(i) = hit else {
            return partial(found);
        };
        found = Some(all[i].line);
        parent_indent = Some(all[i].indent);
        pos = i + 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
# comment
server:
  port: 8000
backends:
  - name: a
    url: http://x
  -
    name: b
    url: bad
models:
  small:
    backend: b
    deployments:
      - backend: a
      - backend: zz
";

    fn p(s: &[Seg]) -> KeyPath {
        KeyPath(s.to_vec())
    }
    fn k(s: &str) -> Seg {
        Seg::Key(s.into())
    }

    #[test]
    fn finds_keys_items_and_nested_keys() {
        assert_eq!(line_of(DOC, &p(&[k("server"), k("port")])), Some(3));
        assert_eq!(
            line_of(DOC, &p(&[k("backends"), Seg::Index(0), k("url")])),
            Some(6)
        );
        assert_eq!(
            line_of(DOC, &p(&[k("backends"), Seg::Index(1), k("url")])),
            Some(9)
        );
        assert_eq!(
            line_of(DOC, &p(&[k("models"), k("small"), k("backend")])),
            Some(12)
        );
        assert_eq!(
            line_of(
                DOC,
                &p(&[
                    k("models"),
                    k("small"),
                    k("deployments"),
                    Seg::Index(1),
                    k("backend")
                ])
            ),
            Some(15)
        );
    }

    #[test]
    fn missing_paths_have_no_line() {
        assert_eq!(line_of(DOC, &p(&[k("server"), k("host")])), None);
        assert_eq!(line_of(DOC, &p(&[k("backends"), Seg::Index(5)])), None);
        assert_eq!(
            line_of("a: {b: 1}", &p(&[k("a"), k("b")])),
            Some(1),
            "flow: the enclosing line"
        );
        assert_eq!(
            line_of(
                "x: 1\na:\n  - {b: 1}\n",
                &p(&[k("a"), Seg::Index(0), k("b")])
            ),
            Some(3)
        );
    }

    #[test]
    fn displays_dotted_paths() {
        assert_eq!(
            p(&[k("backends"), Seg::Index(1), k("url")]).to_string(),
            "backends[1].url"
        );
    }
}
