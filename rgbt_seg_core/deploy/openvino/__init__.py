"""OpenVINO: conversion from the ONNX export and the runner."""
