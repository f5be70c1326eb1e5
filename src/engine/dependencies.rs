//! The order tables are written in when foreign keys tie them: a parent
//! (a table another's foreign key references) before its children, so a
//! child's new row finds its parent row; deletes the other way round, so a
//! parent row goes only once the rows pointing at it are gone.

use std::collections::{BTreeSet, HashMap};

/// The positions of `tables` in an order where each table comes after the
/// tables among them it references (`parents`: table → the tables its
/// foreign keys reference), the given order kept otherwise; and the tables
/// found in a cycle (kept in their given order, as no order suits them).
pub fn parents_first(tables: &[String], parents: &HashMap<String, Vec<String>>) -> (Vec<usize>, Vec<String>) {
    let picked: BTreeSet<&str> = tables.iter().map(String::as_str).collect();
    let waits_for = |t: &str| -> Vec<&str> {
        parents.get(t).map(|p| p.iter().map(String::as_str).filter(|p| *p != t && picked.contains(p)).collect()).unwrap_or_default()
    };
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::with_capacity(tables.len());
    let mut cyclic = Vec::new();
    while order.len() < tables.len() {
        let ready = tables.iter().enumerate().find(|(_, t)| !placed.contains(t.as_str()) && waits_for(t).iter().all(|p| placed.contains(p)));
        let (i, t) = match ready {
            Some(r) => r,
            // Every table left waits on another: a cycle. The first left
            // goes now, in its given place.
            None => {
                let first = tables.iter().enumerate().find(|(_, t)| !placed.contains(t.as_str())).expect("a table is left");
                cyclic.push(first.1.clone());
                first
            }
        };
        placed.insert(t.as_str());
        order.push(i);
    }
    (order, cyclic)
}

/// The tables among `tables` that another of them references: their
/// deletes wait until every child is repaired.
pub fn referenced(tables: &[String], parents: &HashMap<String, Vec<String>>) -> BTreeSet<String> {
    tables
        .iter()
        .flat_map(|t| parents.get(t).into_iter().flatten().filter(move |p| *p != t && tables.contains(p)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn graph(edges: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        let mut g: HashMap<String, Vec<String>> = HashMap::new();
        for (child, parent) in edges {
            g.entry(child.to_string()).or_default().push(parent.to_string());
        }
        g
    }

    #[test]
    fn parents_come_first_and_the_rest_keep_their_order() {
        let tables = names(&["invoice_line", "artist", "invoice", "customer", "album", "track"]);
        let g = graph(&[("invoice_line", "invoice"), ("invoice_line", "track"), ("invoice", "customer"), ("track", "album"), ("album", "artist")]);
        let (order, cyclic) = parents_first(&tables, &g);
        let ordered: Vec<&str> = order.iter().map(|&i| tables[i].as_str()).collect();
        assert_eq!(ordered, ["artist", "customer", "invoice", "album", "track", "invoice_line"]);
        assert!(cyclic.is_empty());
        assert_eq!(referenced(&tables, &g), ["album", "artist", "customer", "invoice", "track"].iter().map(|s| s.to_string()).collect());
    }

    #[test]
    fn a_parent_not_picked_a_self_reference_and_a_cycle_do_not_block() {
        let tables = names(&["a", "b", "c", "employee"]);
        // a ↔ b, c → elsewhere (not picked), employee → itself.
        let g = graph(&[("a", "b"), ("b", "a"), ("c", "elsewhere"), ("employee", "employee")]);
        let (order, cyclic) = parents_first(&tables, &g);
        assert_eq!(order.len(), 4);
        assert_eq!(order.iter().map(|&i| tables[i].as_str()).collect::<Vec<_>>(), ["c", "employee", "a", "b"]);
        assert_eq!(cyclic, ["a"]);
        assert!(!referenced(&tables, &g).contains("employee"), "a table referencing itself waits for no other");
    }
}
