//! The step graph: petgraph DAG, cycle detection that names the path, and
//! the set of steps upstream of each step.

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

/// Edges `dependency -> dependent` over step indices.
#[derive(Clone, Debug, Default)]
pub struct StepGraph {
    /// The DAG; node weights are step indices.
    pub graph: DiGraph<usize, ()>,
}

impl StepGraph {
    /// A graph of `n` steps where `needs[i]` lists what step `i` waits for.
    pub fn new(needs: &[Vec<usize>]) -> Self {
        let mut graph = DiGraph::with_capacity(needs.len(), needs.len());
        for i in 0..needs.len() {
            graph.add_node(i);
        }
        for (i, deps) in needs.iter().enumerate() {
            for &d in deps {
                graph.add_edge(NodeIndex::new(d), NodeIndex::new(i), ());
            }
        }
        StepGraph { graph }
    }

    /// Each cycle as a path of step indices in `needs` order, the first step
    /// repeated at the end: `[a, b, a]` means a needs b and b needs a.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        for scc in tarjan_scc(&self.graph) {
            let self_loop = scc.len() == 1 && self.graph.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let Some(&start) = scc.iter().min_by_key(|n| n.index()) else { continue };
            // Walk the needs edges (incoming) within the component back to the start.
            let mut path = vec![start];
            let mut seen = vec![start];
            let mut cur = start;
            loop {
                let mut preds: Vec<NodeIndex> = self
                    .graph
                    .neighbors_directed(cur, petgraph::Direction::Incoming)
                    .filter(|p| scc.contains(p))
                    .collect();
                preds.sort_by_key(|p| p.index());
                if preds.contains(&start) {
                    path.push(start);
                    break;
                }
                match preds.into_iter().find(|p| !seen.contains(p)) {
                    Some(next) => {
                        path.push(next);
                        seen.push(next);
                        cur = next;
                    }
                    None => {
                        path.push(start);
                        break;
                    }
                }
            }
            out.push(path.into_iter().map(|n| self.graph[n]).collect());
        }
        out.sort();
        out
    }

    /// Step indices in an order where every step comes after what it needs
    /// (`None` if there is a cycle).
    pub fn order(&self) -> Option<Vec<usize>> {
        toposort(&self.graph, None).ok().map(|o| o.into_iter().map(|n| self.graph[n]).collect())
    }

    /// For each step, a bitmap of the steps upstream of it (its ancestors).
    pub fn upstream(&self) -> Vec<Vec<bool>> {
        let n = self.graph.node_count();
        let mut up = vec![vec![false; n]; n];
        for (i, row) in up.iter_mut().enumerate() {
            let mut stack: Vec<NodeIndex> =
                self.graph.neighbors_directed(NodeIndex::new(i), petgraph::Direction::Incoming).collect();
            while let Some(p) = stack.pop() {
                if !row[p.index()] {
                    row[p.index()] = true;
                    stack.extend(self.graph.neighbors_directed(p, petgraph::Direction::Incoming));
                }
            }
        }
        up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_cycle_path() {
        // 0 needs 2, 1 needs 0, 2 needs 1
        let g = StepGraph::new(&[vec![2], vec![0], vec![1]]);
        assert_eq!(g.cycles(), vec![vec![0, 2, 1, 0]]);
        assert!(g.order().is_none());
    }

    #[test]
    fn upstream_is_transitive() {
        let g = StepGraph::new(&[vec![], vec![0], vec![1], vec![]]);
        let up = g.upstream();
        assert!(up[2][0] && up[2][1] && !up[2][3]);
        assert_eq!(g.order().map(|o| o.len()), Some(4));
    }
}
