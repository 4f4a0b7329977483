//! Fitting with linfa, exported to [`Model`]s.
//!
//! Class imbalance, with a strength `balance` in [0, 1] chosen by validation: the single tree
//! gets sample weights (n / (k · n_class))^balance (linfa's weighted Gini); the forest and the
//! logistic regression, whose linfa fitting ignores weights (bootstrapping drops them), are
//! fitted on a resample where class c is drawn up to n_c · (n_max / n_c)^balance rows
//! (balance 1: every class as large as the largest; 0.5: the square root of that; 0: as is),
//! deterministic for a seed. Full balancing of a class with a handful of rows makes trees
//! memorise its copies, which is why the strength is searched rather than fixed.
//!
//! One source of run-to-run variation is linfa's: a leaf whose classes weigh exactly the same
//! picks one in `HashMap` iteration order, which no seed controls.

use linfa::prelude::*;
use linfa_ensemble::EnsembleLearnerParams;
use linfa_logistic::MultiLogisticRegression;
use linfa_trees::{DecisionTree, TreeNode};
use ndarray::{Array1, Array2};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::model::{Logistic, Model, Node, Tree};
use crate::error::{Error, Result};

/// Rows of features and class indices.
#[derive(Debug, Clone, Default)]
pub struct TrainSet {
    pub x: Vec<Vec<f64>>,
    pub y: Vec<usize>,
    pub n_classes: usize,
}

impl TrainSet {
    pub fn len(&self) -> usize {
        self.y.len()
    }
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.n_classes];
        for &y in &self.y {
            c[y] += 1;
        }
        c
    }

    fn matrix(&self) -> Array2<f64> {
        let cols = self.x.first().map(Vec::len).unwrap_or(0);
        Array2::from_shape_fn((self.len(), cols), |(i, j)| self.x[i][j])
    }

    /// Class c resampled with replacement to n_c · (n_max / n_c)^balance rows.
    fn balanced(&self, balance: f64, seed: u64) -> TrainSet {
        let counts = self.class_counts();
        let largest = counts.iter().copied().max().unwrap_or(0) as f64;
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut out = TrainSet { n_classes: self.n_classes, ..TrainSet::default() };
        for class in 0..self.n_classes {
            let rows: Vec<usize> = (0..self.len()).filter(|&i| self.y[i] == class).collect();
            if rows.is_empty() {
                continue;
            }
            let n = rows.len() as f64;
            let target = (n * (largest / n).powf(balance)).round() as usize;
            for k in 0..target.max(rows.len()) {
                // Every original row once, then random draws up to the target.
                let i = if k < rows.len() { rows[k] } else { rows[rng.gen_range(0..rows.len())] };
                out.x.push(self.x[i].clone());
                out.y.push(class);
            }
        }
        out
    }
}

/// What to fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "model")]
pub enum ModelSpec {
    /// The majority class of the training data.
    Majority,
    /// One split on the single most informative feature (the rule baseline).
    Rule,
    Tree {
        max_depth: Option<usize>,
        min_weight_leaf: f32,
        balance: f64,
    },
    Forest {
        trees: usize,
        max_depth: Option<usize>,
        feature_proportion: f64,
        balance: f64,
        seed: u64,
    },
    Logistic {
        alpha: f64,
        max_iterations: u64,
        balance: f64,
        seed: u64,
    },
}

impl ModelSpec {
    pub fn name(&self) -> String {
        match self {
            ModelSpec::Majority => "majority".into(),
            ModelSpec::Rule => "rule".into(),
            ModelSpec::Tree { max_depth, min_weight_leaf, balance } => {
                format!("tree(depth={},leaf={min_weight_leaf},balance={balance})", depth_name(*max_depth))
            }
            ModelSpec::Forest { trees, max_depth, feature_proportion, balance, .. } => format!(
                "forest(trees={trees},depth={},features={feature_proportion},balance={balance})",
                depth_name(*max_depth)
            ),
            ModelSpec::Logistic { alpha, balance, .. } => format!("logistic(alpha={alpha},balance={balance})"),
        }
    }
}

fn depth_name(d: Option<usize>) -> String {
    d.map(|d| d.to_string()).unwrap_or_else(|| "none".into())
}

/// Fits `spec` on `data`.
pub fn fit(spec: &ModelSpec, data: &TrainSet) -> Result<Model> {
    if data.is_empty() {
        return Err(Error::Fit { model: spec.name(), message: "no training rows".into() });
    }
    let err = |e: linfa::Error| Error::Fit { model: spec.name(), message: e.to_string() };
    let n_classes = data.n_classes;
    match spec {
        ModelSpec::Majority => {
            let counts = data.class_counts();
            let class = (0..n_classes).max_by_key(|&c| (counts[c], std::cmp::Reverse(c))).unwrap_or(0);
            Ok(Model::Constant { class, n_classes })
        }
        ModelSpec::Rule | ModelSpec::Tree { .. } => {
            let (max_depth, leaf, balance) = match spec {
                ModelSpec::Tree { max_depth, min_weight_leaf, balance } => (*max_depth, *min_weight_leaf, *balance),
                _ => (Some(1), 1.0, 1.0),
            };
            let counts = data.class_counts();
            let n = data.len() as f32;
            let weights: Array1<f32> = data
                .y
                .iter()
                .map(|&c| (n / (n_classes as f32 * counts[c].max(1) as f32)).powf(balance as f32))
                .collect();
            let dataset = Dataset::new(data.matrix(), Array1::from(data.y.clone())).with_weights(weights);
            let tree = DecisionTree::params()
                .max_depth(max_depth)
                .min_weight_leaf(leaf)
                .min_weight_split(2.0 * leaf)
                .fit(&dataset)
                .map_err(err)?;
            Ok(Model::Tree { tree: export_tree(tree.root_node(), None), n_classes })
        }
        ModelSpec::Forest { trees, max_depth, feature_proportion, balance, seed } => {
            let balanced = data.balanced(*balance, *seed);
            let dataset = Dataset::new(balanced.matrix(), Array1::from(balanced.y.clone()));
            let forest = EnsembleLearnerParams::new_fixed_rng(
                DecisionTree::params().max_depth(*max_depth),
                SmallRng::seed_from_u64(seed.wrapping_add(1)),
            )
            .ensemble_size(*trees)
            .bootstrap_proportion(1.0)
            .feature_proportion(*feature_proportion)
            .fit(&dataset)
            .map_err(err)?;
            let trees = forest
                .models
                .iter()
                .zip(&forest.model_features)
                .map(|(t, features)| export_tree(t.root_node(), Some(features)))
                .collect();
            Ok(Model::Forest { trees, n_classes })
        }
        ModelSpec::Logistic { alpha, max_iterations, balance, seed } => {
            let balanced = data.balanced(*balance, *seed);
            let x = balanced.matrix();
            let cols = x.ncols();
            let mean: Vec<f64> = (0..cols).map(|j| x.column(j).mean().unwrap_or(0.0)).collect();
            let scale: Vec<f64> = (0..cols)
                .map(|j| {
                    let sd = x.column(j).std(0.0);
                    if sd > 1e-12 { sd } else { 1.0 }
                })
                .collect();
            let z = Array2::from_shape_fn(x.dim(), |(i, j)| (x[(i, j)] - mean[j]) / scale[j]);
            let dataset = Dataset::new(z, Array1::from(balanced.y.clone()));
            let fitted = MultiLogisticRegression::default()
                .alpha(*alpha)
                .max_iterations(*max_iterations)
                .fit(&dataset)
                .map_err(|e| Error::Fit { model: spec.name(), message: e.to_string() })?;
            // linfa's classes are the distinct labels seen, in its own order: map to indices.
            let params = fitted.params();
            let mut weights = vec![vec![0.0; n_classes]; cols];
            let mut intercept = vec![-1e9; n_classes];
            for (k, class) in fitted.classes().iter().enumerate() {
                intercept[*class] = fitted.intercept()[k];
                for (j, row) in weights.iter_mut().enumerate() {
                    row[*class] = params[(j, k)];
                }
            }
            Ok(Model::Logistic { model: Logistic { mean, scale, weights, intercept } })
        }
    }
}

/// Flattens a linfa tree; `features` maps the tree's column indices to the original ones
/// (a forest's trees see a subset of columns).
fn export_tree(root: &TreeNode<f64, usize>, features: Option<&Vec<usize>>) -> Tree {
    let mut nodes = Vec::new();
    fn walk(node: &TreeNode<f64, usize>, features: Option<&Vec<usize>>, nodes: &mut Vec<Node>) -> u32 {
        let at = nodes.len() as u32;
        if let Some(class) = node.prediction() {
            nodes.push(Node::Leaf { class: class as u16 });
            return at;
        }
        let (feature, threshold, _) = node.split();
        let feature = features.map(|f| f[feature]).unwrap_or(feature) as u16;
        nodes.push(Node::Split { feature, threshold, left: 0, right: 0 });
        let children = node.children();
        let left = children[0].as_ref().map(|c| walk(c, features, nodes));
        let right = children[1].as_ref().map(|c| walk(c, features, nodes));
        // linfa always gives an internal node both children.
        let (left, right) = (left.expect("left child"), right.expect("right child"));
        nodes[at as usize] = Node::Split { feature, threshold, left, right };
        at
    }
    walk(root, features, &mut nodes);
    Tree { nodes }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes separated at x0 = 5 with a noise feature; class 1 is rare (10 %).
    fn data() -> TrainSet {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut d = TrainSet { n_classes: 2, ..TrainSet::default() };
        for i in 0..400 {
            let rare = i % 10 == 0;
            let x0 = if rare { 5.0 + rng.gen_range(0.0..5.0) } else { rng.gen_range(0.0..5.0) };
            d.x.push(vec![x0, rng.gen_range(0.0..1.0)]);
            d.y.push(rare as usize);
        }
        d
    }

    #[test]
    fn every_model_learns_a_clean_split_and_exported_trees_agree_with_linfa() {
        let d = data();
        let test = [[1.0, 0.5], [4.9, 0.1], [5.2, 0.9], [9.0, 0.3]];
        let expect = [0, 0, 1, 1];
        for spec in [
            ModelSpec::Rule,
            ModelSpec::Tree { max_depth: Some(4), min_weight_leaf: 1.0, balance: 1.0 },
            ModelSpec::Forest { trees: 20, max_depth: None, feature_proportion: 1.0, balance: 1.0, seed: 3 },
            ModelSpec::Logistic { alpha: 1e-3, max_iterations: 200, balance: 1.0, seed: 3 },
        ] {
            let m = fit(&spec, &d).unwrap();
            let got: Vec<usize> = test.iter().map(|x| m.predict(x)).collect();
            assert_eq!(got, expect, "{}", spec.name());
        }
        assert_eq!(fit(&ModelSpec::Majority, &d).unwrap().predict(&[9.0, 0.0]), 0);

        // The exported tree predicts exactly what linfa's tree predicts, row by row.
        let dataset = Dataset::new(d.matrix(), Array1::from(d.y.clone()));
        let linfa_tree = DecisionTree::params().max_depth(Some(6)).fit(&dataset).unwrap();
        let exported = export_tree(linfa_tree.root_node(), None);
        let linfa_pred = linfa_tree.predict(&d.matrix());
        for (i, row) in d.x.iter().enumerate() {
            assert_eq!(exported.predict(row), linfa_pred[i]);
        }
    }

    #[test]
    fn balancing_strength_scales_minority_classes() {
        let d = data(); // 40 rare, 360 common
        let count = |b: f64| d.balanced(b, 1).class_counts();
        assert_eq!(count(0.0), vec![360, 40]);
        assert_eq!(count(1.0), vec![360, 360]);
        assert_eq!(count(0.5), vec![360, 120]);
    }

    #[test]
    fn fitting_is_deterministic_for_a_seed() {
        let d = data();
        let spec = ModelSpec::Forest { trees: 10, max_depth: Some(5), feature_proportion: 0.5, balance: 0.5, seed: 9 };
        assert_eq!(fit(&spec, &d).unwrap(), fit(&spec, &d).unwrap());
    }
}
