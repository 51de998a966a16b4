"""The abalone age regression pipeline: data set, container scripts and pipeline definition."""
