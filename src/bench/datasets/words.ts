/**
 * Prompt text made of common English words. Each word, with its leading space, is one token in
 * Llama 3/4's vocabulary (and in most BPE vocabularies), so `n` words make a prompt of about `n`
 * tokens on any server, without a tokenizer on the client. The exact counts come back in each
 * response's `usage` and are what the metrics use.
 * @module
 */
import type { Rng } from "./rng.js";

// biome-ignore format: a word list
export const WORDS: readonly string[] = [
  "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
  "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
  "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would",
  "who", "so", "no", "time", "people", "year", "way", "day", "man", "thing", "woman", "life", "child",
  "world", "school", "state", "family", "student", "group", "country", "problem", "hand", "part", "place",
  "case", "week", "company", "system", "program", "question", "work", "government", "number", "night",
  "point", "home", "water", "room", "mother", "area", "money", "story", "fact", "month", "lot", "right",
  "study", "book", "eye", "job", "word", "business", "issue", "side", "kind", "head", "house", "service",
  "friend", "father", "power", "hour", "game", "line", "end", "member", "law", "car", "city", "community",
  "name", "president", "team", "minute", "idea", "kid", "body", "information", "back", "parent", "face",
  "others", "level", "office", "door", "health", "person", "art", "war", "history", "party", "result",
  "change", "morning", "reason", "research", "girl", "guy", "moment", "air", "teacher", "force", "education",
  "good", "new", "first", "last", "long", "great", "little", "own", "other", "old", "big", "high", "different",
  "small", "large", "next", "early", "young", "important", "few", "public", "bad", "same", "able", "go",
  "make", "know", "take", "see", "come", "think", "look", "want", "give", "use", "find", "tell", "ask",
  "seem", "feel", "try", "leave", "call", "keep", "let", "begin", "show", "hear", "play", "run", "move",
  "live", "believe", "hold", "bring", "happen", "write", "provide", "sit", "stand", "lose", "pay", "meet",
  "include", "continue", "set", "learn", "lead", "understand", "watch", "follow", "stop", "create", "speak",
  "read", "spend", "grow", "open", "walk", "win", "offer", "remember", "love", "consider", "appear", "buy",
  "wait", "serve", "die", "send", "expect", "build", "stay", "fall", "cut", "reach", "kill", "remain",
];

/** `n` words drawn uniformly, each with a leading space (about `n` tokens). */
export function randomWords(rng: Rng, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += ` ${rng.pick(WORDS)}`;
  return s;
}
