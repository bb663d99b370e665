package mount

// MaskedFilesHere is maskedFilesHere, for the external tests.
var MaskedFilesHere = maskedFilesHere
