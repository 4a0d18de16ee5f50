// Package jobspec parses and validates the YAML document that describes a
// training job: the dataset, the model and how to train it. The same
// document runs in one process (`coordinator run`) and is submitted to a
// cluster unchanged.
//
// Parse rejects unknown keys, wrong types and impossible values with the
// offending field named by its YAML path (`training.batch_size: must be > 0`).
// Checks that need the data (input width, number of classes) are in
// CheckData, run once the dataset is loaded. The package does not load data
// or build networks; it only says what the job asks for.
package jobspec
