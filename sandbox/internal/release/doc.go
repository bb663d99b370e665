// Package release runs a box's teardown steps in the background, after its
// result: closing namespace descriptors (whose last close does the
// namespace's teardown, with its RCU waits) and other steps that need not
// hold the result up. The one-shot and slots runners share it.
package release
