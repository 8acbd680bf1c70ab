package main

import "testing"

// The README's first command must keep working: run the whole story.
func TestStory(t *testing.T) {
	if err := run(); err != nil {
		t.Fatal(err)
	}
}
