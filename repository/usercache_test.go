package repository

import (
	"testing"

	"tally/domain"
)

// A read that started before a write must not put back what it read; a
// write drops the entry; callers cannot change what is cached.
func TestUserCache(t *testing.T) {
	c := newUserCache()
	u := domain.User{ID: "u1", DisplayName: "old", CampaignRotationSettings: domain.RotationSettings{
		BlackoutPeriods: []domain.BlackoutPeriod{{DaysOfWeek: []domain.Weekday{"MONDAY"}}}}}

	gen := c.gen.Load() // a read starts
	c.writing()         // a write lands meanwhile
	c.done("u1")
	c.put(gen, u) // the read finishes with the old document
	if _, ok := c.get("u1"); ok {
		t.Fatal("a read older than a write was cached")
	}

	c.put(c.gen.Load(), u)
	got, ok := c.get("u1")
	if !ok || got.DisplayName != "old" {
		t.Fatalf("get: %+v %v", got, ok)
	}
	got.CampaignRotationSettings.BlackoutPeriods[0].DaysOfWeek[0] = "SUNDAY"
	if again, _ := c.get("u1"); again.CampaignRotationSettings.BlackoutPeriods[0].DaysOfWeek[0] != "MONDAY" {
		t.Fatal("a caller changed the cached user")
	}

	c.writing()
	c.done("u1")
	if _, ok := c.get("u1"); ok {
		t.Fatal("a write did not drop the entry")
	}

	var none *userCache // MongoDB: no cache
	none.put(0, u)
	if _, ok := none.get("u1"); ok {
		t.Fatal("a nil cache answered")
	}
}
