package repository

import "go.mongodb.org/mongo-driver/bson/primitive"

// SetNewID replaces how the clicks repository makes _ids, so a test can force
// a real duplicate-key error on the first insert attempt.
func (r *Clicks) SetNewID(f func() primitive.ObjectID) { r.newID = f }
