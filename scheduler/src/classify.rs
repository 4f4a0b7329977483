//! Job classes as production knows them: from hcp's workload classifier (`hcp train
//! classifier`, its `ls_be` task) on the job's spec, not from the trace's label. A policy that
//! plans on them is still judged on the true classes: a latency-sensitive job taken for
//! best-effort and left waiting costs its SLA penalty.

use std::collections::HashMap;

use hcp_models::classifier::JobSpec;
use hcp_models::classifier::artifact::ClassifierBundle;
use hcp_sim::workload::{JobClass, SimJob};
use hcp_sim::world::World;

use crate::error::{Error, Result};
use crate::observe::Observation;

/// The task whose answer is the scheduler's class.
const TASK: &str = "ls_be";

/// A loaded classifier with an `ls_be` task.
#[derive(Debug, Clone)]
pub struct JobClassifier {
    bundle: ClassifierBundle,
}

impl JobClassifier {
    /// Refuses a classifier without an `ls_be` task answering `LS` or `BE`.
    pub fn new(bundle: ClassifierBundle) -> Result<JobClassifier> {
        let task = bundle.task(TASK).ok_or_else(|| Error::Config(format!("the classifier has no `{TASK}` task")))?;
        if !(task.classes.iter().any(|c| c == "LS") && task.classes.iter().any(|c| c == "BE")) {
            return Err(Error::Config(format!(
                "the classifier's `{TASK}` classes are {:?}, not LS and BE",
                task.classes
            )));
        }
        Ok(JobClassifier { bundle })
    }

    /// The class the classifier gives `job`'s spec (CPU, memory, GPUs and share, creation time).
    pub fn class_of(&self, job: &SimJob) -> Result<JobClass> {
        let spec = JobSpec {
            cpu_milli: job.cpu_milli,
            memory_mib: job.memory_mib,
            num_gpu: i32::try_from(job.num_gpu).unwrap_or(i32::MAX),
            gpu_milli: i32::try_from(job.gpu_milli).unwrap_or(i32::MAX),
            gpu_spec: None,
            creation_time_s: job.created_us.div_euclid(1_000_000),
        };
        let predictions =
            self.bundle.classify(&spec).map_err(|e| Error::Config(format!("classifying job `{}`: {e}", job.id)))?;
        let ls = predictions.iter().any(|p| p.task == TASK && p.class == "LS");
        Ok(if ls { JobClass::LatencySensitive } else { JobClass::BestEffort })
    }
}

/// What a policy believes of the jobs it sees: each job classified once, on first sight.
#[derive(Debug)]
pub struct Believed<'a> {
    classifier: &'a JobClassifier,
    classes: HashMap<String, JobClass>,
    /// Jobs whose class the classifier got wrong: latency-sensitive taken for best-effort, and
    /// the other way round.
    pub ls_as_be: u64,
    pub be_as_ls: u64,
}

impl<'a> Believed<'a> {
    pub fn new(classifier: &'a JobClassifier) -> Believed<'a> {
        Believed { classifier, classes: HashMap::new(), ls_as_be: 0, be_as_ls: 0 }
    }

    /// `obs` with the class of every queued and running job replaced by the classifier's.
    pub fn relabel(&mut self, mut obs: Observation, world: &World) -> Result<Observation> {
        let running = obs.sites.iter_mut().flat_map(|s| s.running.iter_mut());
        for job in obs.queue.iter_mut().chain(running) {
            let class = match self.classes.get(&job.id) {
                Some(c) => *c,
                None => {
                    let (sim, _) = world
                        .jobs
                        .get(&job.id)
                        .ok_or_else(|| Error::Config(format!("job `{}` is not in the world", job.id)))?;
                    let c = self.classifier.class_of(sim)?;
                    match (sim.class, c) {
                        (JobClass::LatencySensitive, JobClass::BestEffort) => self.ls_as_be += 1,
                        (JobClass::BestEffort, JobClass::LatencySensitive) => self.be_as_ls += 1,
                        _ => {}
                    }
                    self.classes.insert(job.id.clone(), c);
                    c
                }
            };
            job.class = class;
        }
        Ok(obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcp_models::classifier::Model;
    use hcp_models::classifier::artifact::TaskModel;
    use hcp_sim::fleet::FleetConfig;

    /// A classifier that answers `class` (an index into BE, LS) for every spec.
    fn constant(class: usize) -> ClassifierBundle {
        ClassifierBundle {
            feature_names: hcp_models::classifier::FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            tasks: vec![TaskModel {
                task: "ls_be".into(),
                classes: vec!["BE".into(), "LS".into()],
                model_name: "constant".into(),
                model: Model::Constant { class, n_classes: 2 },
            }],
        }
    }

    /// Every job the policy sees takes the classifier's class, once per job; the jobs it gets
    /// wrong are counted by their true class; a classifier without `ls_be` is refused.
    #[test]
    fn the_policy_sees_the_classifiers_classes_and_the_mistakes_are_counted() {
        let fleet = FleetConfig::parse(crate::JOINT_FLEET).unwrap();
        let mut world = World::new(fleet, 2, 7).unwrap();
        world.hand_over();
        while world.jobs.len() < 20 {
            world.step().unwrap();
        }
        let truth = crate::observe::observe(&world, &[]);
        let seen: Vec<&str> =
            truth.queue.iter().chain(truth.sites.iter().flat_map(|s| &s.running)).map(|j| j.id.as_str()).collect();
        assert!(!seen.is_empty());
        let true_ls = seen.iter().filter(|id| world.jobs[**id].0.class == JobClass::LatencySensitive).count() as u64;
        for (answer, class) in [(1, JobClass::LatencySensitive), (0, JobClass::BestEffort)] {
            let classifier = JobClassifier::new(constant(answer)).unwrap();
            let mut believed = Believed::new(&classifier);
            let obs = believed.relabel(truth.clone(), &world).unwrap();
            assert!(obs.queue.iter().chain(obs.sites.iter().flat_map(|s| &s.running)).all(|j| j.class == class));
            let again = believed.relabel(truth.clone(), &world).unwrap();
            assert_eq!(again.queue.len(), obs.queue.len());
            let wrong =
                if class == JobClass::LatencySensitive { (0, seen.len() as u64 - true_ls) } else { (true_ls, 0) };
            assert_eq!((believed.ls_as_be, believed.be_as_ls), wrong, "each job counted once");
        }
        let mut no_task = constant(1);
        no_task.tasks[0].task = "qos".into();
        assert!(JobClassifier::new(no_task).unwrap_err().to_string().contains("ls_be"));
    }
}
