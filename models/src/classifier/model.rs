//! Fitted classifiers as plain data: what the artifact stores and what serving evaluates, with
//! no linfa at prediction time.

use serde::{Deserialize, Serialize};

/// A tree node. Rows go left when `x[feature] < threshold` (linfa's prediction rule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Node {
    Split { feature: u16, threshold: f64, left: u32, right: u32 },
    Leaf { class: u16 },
}

/// A decision tree; node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    pub fn predict(&self, x: &[f64]) -> usize {
        let mut i = 0usize;
        loop {
            match &self.nodes[i] {
                Node::Leaf { class } => return *class as usize,
                Node::Split { feature, threshold, left, right } => {
                    i = if x[*feature as usize] < *threshold { *left as usize } else { *right as usize };
                }
            }
        }
    }

    /// Checks a saved tree over `n_features` inputs and `n_classes` classes: every split reads an
    /// input there is, every leaf names a class there is, and every child comes after its
    /// parent (the order the tree is saved in), so a prediction cannot leave the tree or loop.
    pub fn check(&self, n_features: usize, n_classes: usize) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("a tree with no nodes".into());
        }
        for (i, node) in self.nodes.iter().enumerate() {
            match *node {
                Node::Leaf { class } if usize::from(class) >= n_classes => {
                    return Err(format!("node {i}: class {class} of {n_classes}"));
                }
                Node::Split { feature, threshold, left, right } => {
                    if usize::from(feature) >= n_features {
                        return Err(format!("node {i}: feature {feature} of {n_features}"));
                    }
                    if threshold.is_nan() {
                        return Err(format!("node {i}: the threshold is NaN"));
                    }
                    for child in [left, right] {
                        if child as usize <= i || child as usize >= self.nodes.len() {
                            return Err(format!(
                                "node {i}: child {child}, not a later node of the tree's {}",
                                self.nodes.len()
                            ));
                        }
                    }
                }
                Node::Leaf { .. } => {}
            }
        }
        Ok(())
    }

    pub fn depth(&self) -> usize {
        fn depth(t: &Tree, i: usize) -> usize {
            match &t.nodes[i] {
                Node::Leaf { .. } => 0,
                Node::Split { left, right, .. } => 1 + depth(t, *left as usize).max(depth(t, *right as usize)),
            }
        }
        depth(self, 0)
    }
}

/// Logistic regression on standardised features: softmax(((x - mean) / scale) · W + b).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
    /// `weights[feature][class]`.
    pub weights: Vec<Vec<f64>>,
    pub intercept: Vec<f64>,
}

/// A fitted model over class indices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Model {
    /// Always the same class (the majority-class baseline).
    Constant {
        class: usize,
        n_classes: usize,
    },
    /// One tree (also the one-split rule baseline).
    Tree {
        tree: Tree,
        n_classes: usize,
    },
    /// Trees voting; probabilities are vote shares.
    Forest {
        trees: Vec<Tree>,
        n_classes: usize,
    },
    Logistic {
        model: Logistic,
    },
    /// Another model whose class probabilities are multiplied by per-class weights (tuned on
    /// validation data) before the most probable class is taken.
    Weighted {
        model: Box<Model>,
        weights: Vec<f64>,
    },
}

impl Model {
    pub fn n_classes(&self) -> usize {
        match self {
            Model::Constant { n_classes, .. } | Model::Tree { n_classes, .. } | Model::Forest { n_classes, .. } => {
                *n_classes
            }
            Model::Logistic { model } => model.intercept.len(),
            Model::Weighted { model, .. } => model.n_classes(),
        }
    }

    /// Checks a saved model over `n_features` inputs: what [`Model::predict_proba`] indexes by.
    pub fn check(&self, n_features: usize) -> Result<(), String> {
        let n = self.n_classes();
        if n == 0 {
            return Err("no classes".into());
        }
        match self {
            Model::Constant { class, .. } if *class >= n => Err(format!("class {class} of {n}")),
            Model::Constant { .. } => Ok(()),
            Model::Tree { tree, .. } => tree.check(n_features, n),
            Model::Forest { trees, .. } if trees.is_empty() => Err("a forest with no trees".into()),
            Model::Forest { trees, .. } => trees
                .iter()
                .enumerate()
                .try_for_each(|(t, tree)| tree.check(n_features, n).map_err(|e| format!("tree {t}: {e}"))),
            Model::Logistic { model } => {
                let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
                if model.mean.len() != n_features
                    || model.scale.len() != n_features
                    || model.weights.len() != n_features
                {
                    return Err(format!(
                        "logistic: {} means, {} scales and {} weight rows for {n_features} features",
                        model.mean.len(),
                        model.scale.len(),
                        model.weights.len()
                    ));
                }
                if let Some(j) = model.weights.iter().position(|row| row.len() != n || !finite(row)) {
                    return Err(format!("logistic: weight row {j} is not {n} finite weights"));
                }
                if !finite(&model.mean)
                    || !finite(&model.intercept)
                    || !model.scale.iter().all(|s| s.is_finite() && *s > 0.0)
                {
                    return Err(
                        "logistic: a mean or intercept that is not finite, or a scale that is not positive".into()
                    );
                }
                Ok(())
            }
            Model::Weighted { model, weights } => {
                if weights.len() != n || !weights.iter().all(|w| w.is_finite() && *w >= 0.0) {
                    return Err(format!("weights: {weights:?}, not {n} finite weights of at least 0"));
                }
                model.check(n_features)
            }
        }
    }

    /// Class probabilities (vote shares for a forest, 0/1 for a tree).
    pub fn predict_proba(&self, x: &[f64]) -> Vec<f64> {
        let n = self.n_classes();
        let mut p = vec![0.0; n];
        match self {
            Model::Constant { class, .. } => p[*class] = 1.0,
            Model::Tree { tree, .. } => p[tree.predict(x)] = 1.0,
            Model::Forest { trees, .. } => {
                for t in trees {
                    p[t.predict(x)] += 1.0;
                }
                let total = trees.len().max(1) as f64;
                p.iter_mut().for_each(|v| *v /= total);
            }
            Model::Logistic { model } => {
                for (c, pc) in p.iter_mut().enumerate() {
                    *pc = model.intercept[c];
                }
                for (j, xj) in x.iter().enumerate() {
                    let z = (xj - model.mean[j]) / model.scale[j];
                    for (c, pc) in p.iter_mut().enumerate() {
                        *pc += z * model.weights[j][c];
                    }
                }
                let m = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = p
                    .iter_mut()
                    .map(|v| {
                        *v = (*v - m).exp();
                        *v
                    })
                    .sum();
                p.iter_mut().for_each(|v| *v /= sum);
            }
            Model::Weighted { model, weights } => {
                p = model.predict_proba(x);
                p.iter_mut().zip(weights).for_each(|(v, w)| *v *= w);
                let sum: f64 = p.iter().sum();
                if sum > 0.0 {
                    p.iter_mut().for_each(|v| *v /= sum);
                }
            }
        }
        p
    }

    /// The most probable class (ties to the lowest index).
    pub fn predict(&self, x: &[f64]) -> usize {
        match self {
            Model::Constant { class, .. } => *class,
            Model::Tree { tree, .. } => tree.predict(x),
            _ => {
                let p = self.predict_proba(x);
                let mut best = 0;
                for (i, v) in p.iter().enumerate() {
                    if *v > p[best] {
                        best = i;
                    }
                }
                best
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stump(threshold: f64) -> Tree {
        Tree {
            nodes: vec![
                Node::Split { feature: 0, threshold, left: 1, right: 2 },
                Node::Leaf { class: 0 },
                Node::Leaf { class: 1 },
            ],
        }
    }

    #[test]
    fn trees_go_left_below_the_threshold_and_forests_vote() {
        let t = stump(0.5);
        assert_eq!(t.predict(&[0.49]), 0);
        assert_eq!(t.predict(&[0.5]), 1);
        assert_eq!(t.depth(), 1);
        let f = Model::Forest { trees: vec![stump(0.5), stump(1.5), stump(2.5)], n_classes: 2 };
        assert_eq!(f.predict_proba(&[2.0]), vec![1.0 / 3.0, 2.0 / 3.0]);
        assert_eq!(f.predict(&[2.0]), 1);
        assert_eq!(f.predict(&[1.0]), 0);
    }

    /// softmax([0.5·2 + 0, -0.5·2 + 1]) = softmax([1, 0]) = [0.7311, 0.2689].
    #[test]
    fn weights_move_the_decision() {
        let f = Model::Forest { trees: vec![stump(0.5), stump(1.5), stump(2.5)], n_classes: 2 };
        assert_eq!(f.predict(&[1.0]), 0); // votes 2:1
        let w = Model::Weighted { model: Box::new(f), weights: vec![1.0, 3.0] };
        assert_eq!(w.predict(&[1.0]), 1); // 2/3 vs 1/3 × 3
        let p = w.predict_proba(&[1.0]);
        assert!((p[0] - 0.4).abs() < 1e-12 && (p[1] - 0.6).abs() < 1e-12, "{p:?}");
    }

    #[test]
    fn logistic_standardises_then_softmaxes() {
        let m = Model::Logistic {
            model: Logistic {
                mean: vec![1.0],
                scale: vec![2.0],
                weights: vec![vec![2.0, -2.0]],
                intercept: vec![0.0, 1.0],
            },
        };
        let p = m.predict_proba(&[2.0]);
        assert!((p[0] - 0.731_058_6).abs() < 1e-6 && (p[1] - 0.268_941_4).abs() < 1e-6, "{p:?}");
        assert_eq!(m.predict(&[2.0]), 0);
    }
}
