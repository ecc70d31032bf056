"""HTTP plumbing of the hook: authentication, the retry policy and reading answers."""
