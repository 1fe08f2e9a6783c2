package processor

import "time"

const deadLetterAttempts = 3
const StopGrace = 100 * time.Millisecond

func (p *Processor) Done() <-chan struct{} { return make(chan struct{}) }
func (fs *flights) count() int           { fs.mu.Lock(); defer fs.mu.Unlock(); return len(fs.m) }
